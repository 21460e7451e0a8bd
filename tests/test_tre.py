"TubeTK / ITK `.tre` vessel trees (issue 23): the synth round trip, nested groups with transforms, malformed files, rasterising."
import time
import numpy as np, pytest
from ktvit_nb.core import InputError
from ktvit_nb.data.io import Image, read_image
from ktvit_nb.data.synth import grow_trees
from ktvit_nb.data.synth_dataset import write_synth_dataset
from ktvit_nb.data.tre import Tube, read_tre, write_tre, rasterize_tubes, graph_tubes

def dice(a, b): return 2 * float((a & b).sum()) / max(float(a.sum() + b.sum()), 1)

@pytest.mark.parametrize('shape', [(32, 32, 24), (48, 40)])
def test_synth_round_trip(tmp_path, shape):
    "`ktvit synth` writes vessels.tre; rasterised on the case's grid it gives back the written label (Dice >= 0.99)"
    paths = write_synth_dataset(tmp_path/'synth', 2, shape, seed=5, progress=False)
    for p in paths:
        lab = read_image(p/'label.nii.gz'); tubes = read_tre(p/'vessels.tre')
        assert tubes and all(t.points.shape[1] == len(shape) for t in tubes)
        back = rasterize_tubes(tubes, lab)
        assert back.shape == lab.array.shape and back.dtype == np.uint8
        d = dice(back > 0, lab.array > 0)
        assert d >= 0.99, (p.name, d)
        assert d == 1.0, f"{p.name}: {int((back != lab.array).sum())} voxels differ (the label and the tubes share one definition)"

def test_graph_tubes_keep_every_segment():
    "Each edge of the generator's graph is a segment of exactly one tube; branches name their parent tube and point"
    g = grow_trees((40, 40, 30), np.random.default_rng(2), n_trees=2)
    tubes = graph_tubes(g, np.diag([.5, .5, .5, 1.]))
    segs = sum(len(t.points) - 1 for t in tubes)
    assert segs == len(g['edges'])
    for t in tubes:
        if t.parent >= 0:
            np.testing.assert_allclose(t.points[0], tubes[t.parent].points[t.parent_point])   # starts at the split point

NESTED = """ObjectType = Scene
NDims = 3
NObjects = 4
ObjectType = Group
NDims = 3
ID = 10
ParentID = -1
TransformMatrix = 0 0 1 0 1 0 -1 0 0
Offset = 5 -3 2
CenterOfRotation = 100 100 100
EndGroup =
ObjectType = Group
NDims = 3
ID = 11
ParentID = 10
TransformMatrix = 3 0 0 0 3 0 0 0 3
Offset = 0 1 0
EndGroup =
ObjectType = Tube
ObjectSubType = Vessel
NDims = 3
ID = 12
ParentID = 11
Offset = 1 1 1
ElementSpacing = 2 1 0.5
PointDim = x y z r rn mn bn mk v1x v1y v1z v2x v2y v2z tx ty tz a1 a2 a3 red green blue alpha id
NPoints = 2
Points =
1 2 4 0.5 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 0 0 1 0
0 0 0 0.25 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 0 0 1 1
ObjectType = Tube
NDims = 3
ID = 13
ParentID = 10
PointDim = x y z r
NPoints = 1
Points =
1 0 0 2
"""

def test_nested_groups_with_transforms(tmp_path):
    "Points: ElementSpacing, then the tube's, the inner group's and the outer group's transforms; LPS -> RAS; radii scaled"
    (tmp_path/'n.tre').write_text(NESTED)
    t12, t13 = read_tre(tmp_path/'n.tre')
    M10, o10 = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]]), np.array([5, -3, 2])
    M11, o11 = 3 * np.eye(3), np.array([0, 1, 0])
    def world(x, M=np.eye(3), o=np.zeros(3), chain=((M11, o11), (M10, o10))):
        y = M @ x + o
        for Mi, oi in chain: y = Mi @ y + oi
        return y * [-1, -1, 1]                       # LPS -> RAS
    np.testing.assert_allclose(t12.points, [world(np.array([2, 2, 2]), o=np.ones(3)), world(np.zeros(3), o=np.ones(3))])
    np.testing.assert_allclose(t12.radii, [0.5 * 2 * 3, 0.25 * 2 * 3])     # r * ElementSpacing[0] * the inner group's scale
    np.testing.assert_allclose(t13.points, [world(np.array([1, 0, 0]), chain=((M10, o10),))])
    np.testing.assert_allclose(t13.radii, [2])
    assert (t12.id, t12.parent, t13.parent) == (12, 11, 10)
    back = read_tre(write_tre(tmp_path/'w.tre', [t12, t13]))               # written in world coordinates, read back alike
    for a, b in zip(back, (t12, t13)):
        np.testing.assert_allclose(a.points, b.points, atol=1e-6); np.testing.assert_allclose(a.radii, b.radii, atol=1e-6)

def test_2d_and_comment_header(tmp_path):
    "A 2D scene, a leading Comment line, a tube on the scene: read as written"
    (tmp_path/'2d.tre').write_text("Comment = made by hand\nObjectType = Tube\nNDims = 2\nPointDim = x y r\nNPoints = 2\nPoints = 1 2 0.5\n3 4 0.5\n")
    (t,) = read_tre(tmp_path/'2d.tre')
    np.testing.assert_allclose(t.points, [[-1, -2], [-3, -4]]); np.testing.assert_allclose(t.radii, [.5, .5])

HEAD = "ObjectType = Tube\nNDims = 3\nPointDim = x y z r\n"

@pytest.mark.parametrize('text,says', [
    (HEAD + "NPoints = 3\nPoints = \n0 0 0 1\n1 0 0 1\n", "line 7: truncated: the object at line 1 (NPoints = 3, 4 numbers a point) ends after 8 of its 12 numbers"),
    (HEAD + "NPoints = 2\nPoints = \n0 0 0 1\nObjectType = Tube\n", "line 6: truncated"),
    (HEAD + "NPoints = 2\n", "line 1: the tube has no 'Points =' section (truncated?)"),
    (HEAD + "NPoints = 2\nPoints = \n0 0 0 1\n1 0 0 1 7\n", "line 7: more point rows than the object at line 1"),
    (HEAD + "NPoints = 1\nPoints = \n0 0 nan? 1\n", "line 6: 'nan?' in the points of the object at line 1 (NPoints = 1, 4 numbers a point) is not a number"),
    (HEAD + "NPoints = 1\nPoints = \n0 0 inf 1\n", "line 1: the tube's points hold a non-finite number"),
    ("ObjectType = Tube\nNDims = 3\nNPoints = 1\nPoints = \n0 0 0 1\n", "line 4: the object at line 1 gives Points without a PointDim line before them"),
    ("ObjectType = Tube\nNDims = 3\nPointDim = x y z\nNPoints = 1\nPoints = \n0 0 0\n", "line 3: PointDim = 'x y z' has no r column"),
    ("ObjectType = Tube\nNDims = 4\nPointDim = x y z r\nNPoints = 0\nPoints = \n", "line 2: NDims = 4; tubes are 2D or 3D"),
    ("ObjectType = Tube\nPointDim = x y z r\nNPoints = 0\nPoints = \n", "the object at line 1 has no NDims line"),
    ("ObjectType = Tube\nNDims = 3\nOffset = 1 2\nPointDim = x y z r\nNPoints = 0\nPoints = \n", "line 3: Offset has 2 numbers; NDims = 3 needs 3"),
    ("ObjectType = Tube\nNDims = 3\nElementSpacing = a b c\nPointDim = x y z r\nNPoints = 0\nPoints = \n", "line 3: ElementSpacing = 'a b c' is not a list of numbers"),
    ("ObjectType = Scene\nNDims = 3\nNObjects = 3\n" + HEAD + "NPoints = 0\nPoints = \n", "line 3: the Scene declares NObjects = 3 but 1 objects follow (truncated?)"),
    (HEAD + "this line has no equals sign\n", "line 4: expected 'Key = value', got 'this line has no equals sign'"),
    ("P5 255\n\x00\x01binary", "line 1: not a TubeTK / ITK spatial-object (.tre) file"),
    ("", "is empty: no 'ObjectType = ...' line"),
    ("ObjectType = Group\nNDims = 3\nID = 1\nObjectType = Group\nNDims = 3\nID = 1\n" + HEAD.replace("NDims = 3\n", "NDims = 3\nParentID = 1\n") + "NPoints = 0\nPoints = \n",
     "line 7: its ParentID = 1 is the ID of 2 objects (lines 1, 4)"),
    ("ObjectType = Group\nNDims = 2\nID = 1\n" + HEAD.replace("NDims = 3\n", "NDims = 3\nParentID = 1\n") + "NPoints = 0\nPoints = \n",
     "line 4: NDims = 3 inside a parent of NDims = 2 (line 1)"),
])
def test_malformed_files_name_the_line(tmp_path, text, says):
    "Every bad file is one InputError naming the file and what is wrong where"
    f = tmp_path/'bad.tre'; f.write_text(text)
    with pytest.raises(InputError) as e: read_tre(f)
    assert str(e.value).startswith(str(f)) and says in str(e.value), str(e.value)

def test_missing_file_and_unwritable_tubes(tmp_path):
    with pytest.raises(InputError, match='nope.tre: file not found'): read_tre(tmp_path/'nope.tre')
    with pytest.raises(InputError, match='no tubes to write'): write_tre(tmp_path/'x.tre', [])
    mixed = [Tube(np.zeros((2, 3)), np.ones(2)), Tube(np.zeros((2, 2)), np.ones(2))]
    with pytest.raises(InputError, match=r'all hold \(n, 2\) or all \(n, 3\) points'): write_tre(tmp_path/'x.tre', mixed)
    assert not (tmp_path/'x.tre').exists()

def test_segments_not_just_spheres():
    "Two points 10 mm apart with 1 mm radii: the voxels half way between them are inside (a capsule), as a cone tapers"
    grid = Image(np.zeros((40, 20, 20), np.uint8), np.diag([.5, .5, .5, 1.]))
    m = rasterize_tubes([Tube(np.array([[5., 5.1, 4.9], [15., 5.1, 4.9]]), np.array([1., 1.]))], grid)
    assert m[20, 10, 10] == 1 and m[20, 10, 13] == 0            # (10, 5, 5) mm inside; (10, 5, 6.5) mm outside
    cone = rasterize_tubes([Tube(np.array([[5., 5.1, 4.9], [15., 5.1, 4.9]]), np.array([2., .5]))], grid)
    widths = [int(cone[i, 10, :].sum()) for i in (12, 20, 28)]
    assert widths[0] > widths[1] > widths[2] > 0

def test_rasterize_matches_brute_force_on_an_oblique_grid():
    "Per-segment boxes lose nothing: the same voxels as testing every voxel centre against every segment"
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    aff = np.eye(4); aff[:3, :3] = q @ np.diag([.6, .4, 1.1]); aff[:3, 3] = [3, -2, 5]
    grid = Image(np.zeros((30, 34, 16), np.uint8), aff)
    x = np.indices(grid.array.shape).reshape(3, -1).T @ aff[:3, :3].T + aff[:3, 3]
    centre = x.mean(0)
    pts = centre + np.cumsum(rng.normal(size=(6, 3)) * 2, 0); radii = rng.uniform(.3, 2., 6)
    brute = np.zeros(len(x), bool)
    for k in range(5):
        v = pts[k + 1] - pts[k]; t = np.clip((x - pts[k]) @ v / (v @ v), 0, 1)
        brute |= np.linalg.norm(x - pts[k] - t[:, None] * v, axis=1) < radii[k] + t * (radii[k + 1] - radii[k])
    got = rasterize_tubes([Tube(pts, radii)], grid)
    assert brute.sum() > 50
    np.testing.assert_array_equal(got.ravel(), brute.astype(np.uint8))

def test_paper_sized_tree_rasterises_in_seconds():
    "A 448x448x128 tree of thousands of points (0.5x0.5x0.8 mm voxels) rasterises in seconds"
    aff = np.diag([.5, .5, .8, 1.])
    tubes = graph_tubes(grow_trees((448, 448, 128), np.random.default_rng(0), n_trees=12, r_max=6, max_nodes=20000), aff)
    n = sum(len(t.points) for t in tubes); assert n > 5000
    t0 = time.time(); m = rasterize_tubes(tubes, Image(np.zeros((448, 448, 128), np.uint8), aff)); took = time.time() - t0
    assert m.sum() > 10000 and took < 20, f"{n} points took {took:.1f} s"

TUBETK_LIKE = """ObjectType = Scene
NDims = 3
NObjects = 3
ObjectType = Group
NDims = 3
ID = 0
ParentID = -1
TransformMatrix = 1 0 0 0 1 0 0 0 1
Offset = -112.5 -110 -40
ElementSpacing = 1 1 1
EndGroup =
ObjectType = Tube
NDims = 3
ID = 1
ParentID = 0
ElementSpacing = 0.5 0.5 0.8
Root = True
PointDim = x y z r v1x v1y v1z v2x v2y v2z tx ty tz red green blue alpha id
NPoints = 3
Points =
100 120 40 4 0 0 0 0 0 0 0 0 0 1 0 0 1 0
101 121 40.5 3.5 0 0 0 0 0 0 0 0 0 1 0 0 1 1
102 121.5 41 3 0 0 0 0 0 0 0 0 0 1 0 0 1 2
ObjectType = Tube
ObjectSubType = Vessel
NDims = 3
ID = 2
ParentID = 1
ParentPoint = 1
ElementSpacing = 0.5 0.5 0.8
PointDim = x y z r rn mn bn mk v1x v1y v1z v2x v2y v2z tx ty tz a1 a2 a3 red green blue alpha id
NPoints = 2
Points =
101 121 40.5 2 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 0 0 1 0
104 125 42 1.5 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 0 0 1 1
"""

def _itk_tubes(itk, path, ids):
    "{ID: (LPS world points, world radii)} as ITK's SpatialObjectReader reads `path`"
    r = itk.SpatialObjectReader[3].New(); r.SetFileName(str(path)); r.Update()
    grp = r.GetGroup(); grp.Update(); out = {}
    for i in ids:
        t = itk.down_cast(grp.GetObjectById(int(i))); t.Update()
        pts = [t.GetPoint(k) for k in range(t.GetNumberOfPoints())]
        out[i] = (np.array([[float(v) for v in p.GetPositionInWorldSpace()] for p in pts]), np.array([p.GetRadiusInWorldSpace() for p in pts]))
    return out

def test_reader_agrees_with_itk(tmp_path):
    "Optional (itk-tubetk installed): ITK reads our written trees and a TubeTK-style file as we do"
    itk = pytest.importorskip('itk')
    write_synth_dataset(tmp_path/'s', 1, (32, 32, 24), seed=1, progress=False)
    (tmp_path/'tubetk.tre').write_text(TUBETK_LIKE)
    for f in (tmp_path/'s'/'case_000'/'vessels.tre', tmp_path/'tubetk.tre'):
        ours = read_tre(f); theirs = _itk_tubes(itk, f, [t.id for t in ours])
        for t in ours:
            p, r = theirs[t.id]
            np.testing.assert_allclose(p * [-1, -1, 1], t.points, atol=1e-4)   # ITK's LPS, our RAS
            np.testing.assert_allclose(r, t.radii, atol=1e-5)
