"Layouts users have (issue 23): TubeTK, nnU-Net raw, BIDS-like angiography beside today's, read by `find_cases` and `predict` as they come."
import json
import numpy as np, pytest
from PIL import Image as PImage
from ktvit_nb.core import InputError
from ktvit_nb.data.io import save_image, read_image
from ktvit_nb.data.cases import find_cases, layout_of, read_image_label, load_case, LAYOUTS
from ktvit_nb.data.tre import read_tre, rasterize_tubes
from ktvit_nb.infer import find_inputs
from ktvit_nb.test_utils import tiny_case_dir
from test_cli_badinput import run   # `ktvit ARGV` in this process: (exit status, stdout, stderr)

SHAPE = (32, 24, 16)

def vol(seed=0, shape=SHAPE): return np.random.default_rng(seed).random(shape, dtype=np.float32)

# ---- TubeTK: Normal-XXX/MRA/NormalXXX-MRA.mha, Normal-XXX/AuxillaryData/VascularNetwork.tre
SPACING, ORIGIN_LPS = np.array([.5, .5, .8]), np.array([-3., 4., -2.])   # the MRA's voxel size and ITK origin (LPS mm)

def mra_affine():
    "The RAS affine that an .mha of this voxel size and origin (identity direction) reads as"
    a = np.diag([-SPACING[0], -SPACING[1], SPACING[2], 1.]); a[:3, 3] = ORIGIN_LPS * [-1, -1, 1]
    return a

def tubetk_tree(path, pts_vox, radii_vox):
    "A TubeTK-style tree: a group placed at the MRA's origin, a vessel tube in voxel units with the MRA's ElementSpacing"
    rows = '\n'.join(f"{x} {y} {z} {r} 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 0 0 1 {k}" for k, ((x, y, z), r) in enumerate(zip(pts_vox, radii_vox)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""ObjectType = Scene
NDims = 3
NObjects = 2
ObjectType = Group
NDims = 3
ID = 0
ParentID = -1
TransformMatrix = 1 0 0 0 1 0 0 0 1
Offset = {' '.join(map(str, ORIGIN_LPS))}
CenterOfRotation = 0 0 0
ElementSpacing = 1 1 1
EndGroup =
ObjectType = Tube
ObjectSubType = Vessel
NDims = 3
ID = 1
ParentID = 0
TransformMatrix = 1 0 0 0 1 0 0 0 1
Offset = 0 0 0
ElementSpacing = {' '.join(map(str, SPACING))}
Root = True
Artery = True
PointDim = x y z r rn mn bn mk v1x v1y v1z v2x v2y v2z tx ty tz a1 a2 a3 red green blue alpha id
NPoints = {len(radii_vox)}
Points =
{rows}
""")

@pytest.fixture
def tubetk(tmp_path):
    "Two TubeTK cases with trees, one without"
    root = tmp_path/'Designed Database of MR Brain Images of Healthy Volunteers'
    for i in (2, 3, 6):
        save_image(vol(i), root/f'Normal-00{i}/MRA/Normal00{i}-MRA.mha', affine=mra_affine())
    for i in (2, 3):
        tubetk_tree(root/f'Normal-00{i}/AuxillaryData/VascularNetwork.tre', [(4, 5, 3), (12, 9, 6), (19, 14, 8)], [2.5, 2, 1.5])
    return root

def test_tubetk_cases_and_labels(tubetk, capsys):
    "Cases with a tree are training cases; the tree is rasterised where ITK places it, in the MRA's voxels"
    cases = find_cases(tubetk)
    assert [(c.name, c.image.name, c.label.name) for c in cases] == [('Normal-002', 'Normal002-MRA.mha', 'VascularNetwork.tre'),
                                                                      ('Normal-003', 'Normal003-MRA.mha', 'VascularNetwork.tre')]
    find_cases(tubetk)
    out = capsys.readouterr().out
    assert out.count('1 of its 3 images have no AuxillaryData/VascularNetwork.tre: they are not training cases') == 1   # said once
    assert [c.label for c in find_cases(tubetk, with_unlabelled=True)][2] is None
    img, lab = read_image_label(cases[0])
    # the expected label, in voxel units: the tree is in the MRA's voxels (points and radii scaled by its spacing)
    idx = np.indices(SHAPE).reshape(3, -1).T * SPACING
    p, r = np.array([(4, 5, 3), (12, 9, 6), (19, 14, 8)]) * SPACING, np.array([2.5, 2, 1.5]) * SPACING[0]
    want = np.zeros(len(idx), bool)
    for k in range(2):
        v = p[k + 1] - p[k]; t = np.clip((idx - p[k]) @ v / (v @ v), 0, 1)
        want |= np.linalg.norm(idx - p[k] - t[:, None] * v, axis=1) < r[k] + t * (r[k + 1] - r[k])
    assert want.sum() > 30
    np.testing.assert_array_equal(lab.ravel(), want.astype(np.uint8))
    c = load_case(cases[0])
    assert c['label'].shape == c['hr'].shape == SHAPE and c['label'].sum() == want.sum()

def test_tubetk_one_case_folder_and_no_tree(tubetk, tmp_path):
    "One Normal-XXX folder is a data set of one case; a folder with no tree at all trains nothing, and says so"
    assert [c.name for c in find_cases(tubetk/'Normal-002')] == ['Normal-002']
    with pytest.raises(InputError, match=r"Normal-006: has 1 images \(TubeTK layout\) but no label for any: they have no "
                                         r"AuxillaryData/VascularNetwork.tre, so they serve prediction only"):
        find_cases(tubetk/'Normal-006')

def test_tubetk_predict_inputs(tubetk):
    "predict reads every MRA, with its tree or not, named after its case (as evaluate --gt names them)"
    assert [c.name for c in find_inputs([tubetk])] == ['Normal-002', 'Normal-003', 'Normal-006']
    assert [c.name for c in find_inputs([tubetk/'Normal-006'/'MRA'/'Normal006-MRA.mha'])] == ['Normal-006']

def test_tubetk_train_and_predict(tubetk, tmp_path):
    "ktvit train-teacher --data <TubeTK folder> and ktvit predict <TubeTK folder>, as the data come"
    code, _, err = run('train-teacher', '--data', tubetk, '--out', tmp_path/'run', '--epochs', 1, '--patch-size', 16, 16, 16,
                       '--n-per-case', 1, '--preset', 'tiny')
    assert code == 0, err[-2000:]
    code, out, err = run('predict', tubetk, '--model', tmp_path/'run', '--out', tmp_path/'pred', '--quiet')
    assert code == 0, err[-2000:]
    for n in ('Normal-002', 'Normal-003', 'Normal-006'):
        got = read_image(tmp_path/'pred'/f'{n}_prob.nii.gz')
        src = read_image(tubetk/n/'MRA'/f'{n.replace("-", "")}-MRA.mha')
        assert got.array.shape == SHAPE; np.testing.assert_allclose(got.affine, src.affine, atol=1e-6)

# ---- nnU-Net raw: imagesTr/NAME_0000, labelsTr/NAME, imagesTs/, dataset.json
def nnunet(root, labels=dict(background=0, artery=1, vein=2), channels={'0': 'TOF'}, ending='.nii.gz', v1=False):
    for n in ('brain_001', 'brain_002'):
        save_image(vol(1), root/'imagesTr'/f'{n}_0000{ending}', affine=np.diag([.4, .4, .6, 1.]))
        lab = np.zeros(SHAPE, np.uint8); lab[5:9, 4:8, 2:10] = 1; lab[14:18, 10:14, 3:9] = 2
        save_image(lab, root/'labelsTr'/f'{n}{ending}', affine=np.diag([.4, .4, .6, 1.]))
    save_image(vol(2), root/'imagesTs'/f'brain_101_0000{ending}', affine=np.diag([.4, .4, .6, 1.]))
    meta = (dict(modality=channels, labels={str(v): k for k, v in labels.items()}) if v1 else
            dict(channel_names=channels, labels=labels, numTraining=2, file_ending=ending))
    (root/'dataset.json').write_text(json.dumps(meta))
    return root

def test_nnunet_cases_binarised_once(tmp_path, capsys):
    "imagesTr/labelsTr are the training cases; three classes are binarised, with one message for the data set"
    root = nnunet(tmp_path/'Dataset042_Vessels')
    assert layout_of(root) == 'nnU-Net raw'
    cases = find_cases(root)
    assert [(c.name, c.image.name, c.label.name) for c in cases] == [('brain_001', 'brain_001_0000.nii.gz', 'brain_001.nii.gz'),
                                                                      ('brain_002', 'brain_002_0000.nii.gz', 'brain_002.nii.gz')]
    labels = [read_image_label(c)[1] for c in cases]; find_cases(root)
    assert all(set(np.unique(l)) == {0, 1} and l.sum() == 4 * 4 * 8 + 4 * 4 * 6 for l in labels)
    out = capsys.readouterr().out
    assert out.count('are binarised') == 1 and 'the nnU-Net labels artery, vein are binarised: every label > 0 counts as vessel' in out
    assert out.count('1 of its 3 images are in imagesTs/') == 1
    assert [(c.name, c.label) for c in find_cases(root, with_unlabelled=True)][2] == ('brain_101', None)
    assert [c.name for c in find_inputs([root])] == ['brain_001', 'brain_002', 'brain_101']

def test_nnunet_v1_and_no_dataset_json(tmp_path, capsys):
    "nnU-Net v1's dataset.json (modality, {'1': name}) reads alike; without dataset.json, label files of 3 values are binarised, said once"
    assert len(find_cases(nnunet(tmp_path/'Task08_v1', v1=True))) == 2
    assert 'Task08_v1: the nnU-Net labels artery, vein are binarised' in capsys.readouterr().out
    root = nnunet(tmp_path/'bare'); (root/'dataset.json').unlink()
    for c in find_cases(root) + find_cases(root): assert set(np.unique(read_image_label(c)[1])) == {0, 1}
    out = capsys.readouterr().out
    assert out.count('are binarised') == 1 and 'bare: labels of several classes (0, 1, 2) are binarised: every label > 0 counts as vessel' in out

def test_nnunet_refusals(tmp_path):
    "More than one input channel is refused in one clear line; so is a missing label"
    root = nnunet(tmp_path/'two', channels={'0': 'TOF', '1': 'T1'})
    with pytest.raises(InputError, match=r"dataset.json: lists 2 input channels \(TOF, T1\); ktvit reads one image a case"):
        find_cases(root)
    root = nnunet(tmp_path/'extra'); (root/'dataset.json').unlink()
    save_image(vol(3), root/'imagesTr'/'brain_001_0001.nii.gz', affine=np.eye(4))
    with pytest.raises(InputError, match=r"brain_001_0001.nii.gz: is not a channel-0 image \(NAME_0000\)"): find_cases(root)
    root = nnunet(tmp_path/'nolabel'); (root/'labelsTr'/'brain_002.nii.gz').unlink()
    with pytest.raises(InputError, match=r"brain_002_0000.nii.gz: has no label labelsTr/brain_002\.\*"): find_cases(root)

# ---- BIDS-like angiography: sub-*/[ses-*/]anat/*_angio.nii.gz, labels in derivatives/
@pytest.fixture
def bids(tmp_path):
    root = tmp_path/'ds003949'
    a = np.diag([.3, .3, .6, 1.])
    save_image(vol(1), root/'sub-01/anat/sub-01_angio.nii.gz', affine=a)
    save_image((vol(5) > .9).astype(np.uint8), root/'derivatives/manual/sub-01/anat/sub-01_angio_dseg.nii.gz', affine=a)
    save_image(np.ones(SHAPE, np.uint8), root/'derivatives/manual/sub-01/anat/sub-01_angio_desc-brain_mask.nii.gz', affine=a)
    save_image(vol(2), root/'sub-02/ses-1/anat/sub-02_ses-1_acq-tof_angio.nii.gz', affine=a)
    save_image((vol(6) > .9).astype(np.uint8), root/'derivatives/seg/sub-02/ses-1/anat/sub-02_ses-1_acq-tof_desc-vessels_mask.nii.gz', affine=a)
    save_image(vol(3), root/'sub-03/anat/sub-03_angio.nii', affine=a)                     # no derivative: prediction only
    save_image(vol(4), root/'sub-01/anat/sub-01_T1w.nii.gz', affine=a)                    # not an angiogram: ignored
    return root

def test_bids_cases(bids, capsys):
    "Scans with a derivative vessel label train; the brain mask is the case mask; names are the scan's entities"
    cases = find_cases(bids)
    assert [(c.name, c.label.name, c.mask.name if c.mask else None) for c in cases] == [
        ('sub-01', 'sub-01_angio_dseg.nii.gz', 'sub-01_angio_desc-brain_mask.nii.gz'),
        ('sub-02_ses-1_acq-tof', 'sub-02_ses-1_acq-tof_desc-vessels_mask.nii.gz', None)]
    assert '1 of its 3 images have no vessel label in derivatives/' in capsys.readouterr().out
    c = load_case(cases[0]); assert c['label'].shape == SHAPE and c['mask'].sum() == np.prod(SHAPE)
    assert [c.name for c in find_inputs([bids])] == ['sub-01', 'sub-02_ses-1_acq-tof', 'sub-03']
    assert [c.name for c in find_inputs([bids/'sub-02/ses-1/anat/sub-02_ses-1_acq-tof_angio.nii.gz'])] == ['sub-02_ses-1_acq-tof']

def test_bids_two_labels_refused(bids):
    save_image(np.zeros(SHAPE, np.uint8), bids/'derivatives/other/sub-01/anat/sub-01_angio_label-vessel_dseg.nii.gz', affine=np.diag([.3, .3, .6, 1.]))
    with pytest.raises(InputError, match=r"sub-01_angio.nii.gz: has 2 vessel labels in derivatives/ .*keep one, or list the cases in a cases.csv"):
        find_cases(bids)

# ---- today's layouts still read, in the one ordered list
def test_every_layout_detected_in_order(tmp_path):
    "cases.csv, pairs.csv, DRIVE and the package layout are still recognised, by the same ordered list"
    assert [n for n, _, _ in LAYOUTS] == ['cases.csv', 'vesselNN pairs.csv', 'DRIVE', 'nnU-Net raw', 'TubeTK', 'BIDS angiography', 'package layout']
    pkg = tiny_case_dir(tmp_path/'pkg')
    assert layout_of(pkg) == 'package layout' and len(find_cases(pkg)) == 3
    (tmp_path/'csv').mkdir(); (tmp_path/'csv/cases.csv').write_text('case,image,label\na,../pkg/case_0/image.nii.gz,../pkg/case_0/label.nii.gz\n')
    assert layout_of(tmp_path/'csv') == 'cases.csv' and [c.name for c in find_cases(tmp_path/'csv')] == ['a']
    (tmp_path/'vnn').mkdir(); (tmp_path/'vnn/pairs.csv').write_text('case,image,label,voxel size\nv,../pkg/case_1/image.nii.gz,../pkg/case_1/label.nii.gz,1;1;5\n')
    assert layout_of(tmp_path/'vnn') == 'vesselNN pairs.csv' and find_cases(tmp_path/'vnn')[0].extras['spacing'] == (1e-3, 1e-3, 5e-3)
    d = tmp_path/'DRIVE'/'training'
    for sub, name in [('images', '21_training.tif'), ('1st_manual', '21_manual1.gif'), ('mask', '21_training_mask.gif')]:
        (d/sub).mkdir(parents=True); PImage.fromarray((np.arange(64).reshape(8, 8) % 2 * 255).astype(np.uint8)).save(d/sub/name)
    assert layout_of(tmp_path/'DRIVE') == 'DRIVE' and [c.name for c in find_cases(tmp_path/'DRIVE')] == ['drive_21']

def test_no_layout_names_the_layouts_tried(tmp_path):
    (tmp_path/'junk').mkdir(); (tmp_path/'junk/notes.txt').write_text('hello')
    with pytest.raises(InputError) as e: find_cases(tmp_path/'junk')
    msg = str(e.value)
    assert '\n' not in msg and msg.startswith(str(tmp_path/'junk'))
    assert all(n in msg for n, _, _ in LAYOUTS), msg
    with pytest.raises(InputError, match='holds no image files, case folders .* or data set .*nnU-Net raw, TubeTK, BIDS angiography'):
        find_inputs([tmp_path/'junk'])
