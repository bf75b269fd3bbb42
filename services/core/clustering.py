"""Group unnamed faces by descriptor similarity, before any model is trained (pure numpy/scipy/sklearn, no I/O).

Methods, compared on celeb5 and timed up to 50,000 faces in ``bench/clusters.py``:

- ``hdbscan`` (the default, best there): scikit-learn's HDBSCAN on a sparse graph of each face's exact
  ``neighbours`` nearest faces. A dense HDBSCAN needs every pairwise distance (20 GB at 50,000 faces); on
  celeb5 the graph version finds the same clusters. It needs no distance threshold: it finds the dense
  groups, and faces in none stay out. When it finds no cluster at all, ``components`` decides (below).
- ``components``: connected components of the neighbour graph cut at ``link_distance`` (single linkage):
  as good on celeb5 at the best cut, but it chains people together at a slightly longer one.
- ``whispers``: Chinese whispers (label propagation) on that cut graph, edges weighted by closeness.

Distances are Euclidean in the descriptor network's own scale; ``ClusterParams.for_network`` sets
``link_distance`` from the network's default naming threshold. Everything is deterministic for a given
input order, so two gateways given the same faces in the same order find the same clusters.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:  # SciPy and scikit-learn load on the first clustering: a gateway nobody asks keeps them out
    from scipy import sparse

F32 = NDArray[np.float32]
Labels = NDArray[np.int64]
NOISE = -1
CHUNK = 256  # rows of the distance matrix held at once: CHUNK x n float32 (50 MB at 50,000 faces)
Method = Literal["hdbscan", "whispers", "components"]
TIE_FACTOR = 1.05


@dataclass(frozen=True)
class ClusterParams:
    method: Method = "hdbscan"
    min_cluster_size: int = 3  # smaller groups stay unclustered
    min_samples: int = 2  # HDBSCAN's density: neighbours a face needs to be a core face
    neighbours: int = 15  # graph edges per face
    link_distance: float = 1.05  # graph methods: neighbours farther than this are not linked
    whisper_rounds: int = 20
    single_cluster: bool = False  # HDBSCAN: may all faces form one cluster

    @classmethod
    def for_network(cls, default_threshold: float, **overrides: object) -> ClusterParams:
        """Parameters for a network whose naming threshold is ``default_threshold`` (SFace: 1.13)."""
        params = cls(link_distance=round(default_threshold * LINK_FACTOR, 4))
        return replace(params, **overrides)  # type: ignore[arg-type]


# link_distance = this x the network's default threshold, for the graph methods: best on celeb5 with SFace
# (bench/clusters.py: 1.13 -> 1.05). HDBSCAN does not use it.
LINK_FACTOR = 0.93


def nearest(vectors: F32, k: int, chunk: int = CHUNK) -> tuple[NDArray[np.int64], F32]:
    """Each row's ``k`` nearest other rows, exactly: (indices, distances), nearest first, ties by index."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(x)
    k = min(k, n - 1)
    if k <= 0:
        return np.zeros((n, 0), np.int64), np.zeros((n, 0), np.float32)
    squares = np.einsum("ij,ij->i", x, x)
    index = np.empty((n, k), np.int64)
    dist = np.empty((n, k), np.float32)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        d2 = squares[start:stop, None] + squares[None, :] - 2.0 * (x[start:stop] @ x.T)
        np.maximum(d2, 0.0, out=d2)
        d2[np.arange(stop - start), np.arange(start, stop)] = np.inf  # not its own neighbour
        part = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < n - 1 else np.argsort(d2, axis=1)[:, :k]
        rows = np.arange(stop - start)[:, None]
        # Order by distance, then by index, so equal distances come out the same way everywhere.
        order = np.lexsort((part, d2[rows, part]), axis=1)
        index[start:stop] = part[rows, order]
        dist[start:stop] = np.sqrt(d2[rows, index[start:stop]])
    return index, dist


def _graph(index: NDArray[np.int64], dist: F32, link: float | None) -> sparse.csr_matrix:
    """The symmetric neighbour graph with distances as weights. Edges longer than ``link`` are left out, or
    with ``link`` None, kept."""
    from scipy import sparse
    n, k = index.shape
    rows, cols = np.repeat(np.arange(n), k), index.ravel()
    # Identical descriptors are 0 apart, and a sparse matrix drops zeros: keep them as edges.
    vals = np.maximum(dist.ravel().astype(np.float64), 1e-9)
    if link is not None:
        keep = vals <= link
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
    directed = sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))
    # An edge listed from one end or both: the distance is the same either way, so the larger of the two
    # entries (one may be missing, read as 0) is that distance.
    return directed.maximum(directed.T).tocsr()


def _relabel(labels: NDArray[np.int64], min_size: int) -> Labels:
    """Clusters under ``min_size`` become noise; the rest are numbered 0.. by first member, in input order."""
    ids, first, inverse, counts = np.unique(labels, return_index=True, return_inverse=True, return_counts=True)
    kept = (counts >= min_size) & (ids != NOISE)
    rank = np.full(len(ids), NOISE, np.int64)
    by_first = [i for i in np.argsort(first, kind="stable") if kept[i]]
    rank[by_first] = np.arange(len(by_first))
    return rank[inverse.ravel()]


def _hdbscan(index: NDArray[np.int64], dist: F32, params: ClusterParams) -> Labels:
    from scipy import sparse
    from scipy.sparse import csgraph
    from sklearn.cluster import HDBSCAN
    # Every neighbour stays in the graph, at its true distance: HDBSCAN needs min_samples neighbours per face,
    # and cutting long edges would make each cut-off group a cluster born at the root, which its stability
    # measure then prefers to any split inside it (measured: whole people merged).
    g = _graph(index, dist, None)
    n = g.shape[0]
    count, component = csgraph.connected_components(g, directed=False)
    if count > 1:
        # HDBSCAN needs one connected graph: tie each component's first face to the first component's, just
        # farther than the longest edge, as a dense HDBSCAN would see them (no nearer than that).
        tie = float(g.data.max()) * TIE_FACTOR
        firsts = np.unique(component, return_index=True)[1]  # components are numbered by first face
        ties = sparse.csr_matrix((np.full(count - 1, tie), (np.full(count - 1, firsts[0]), firsts[1:])),
                                 shape=(n, n))
        g = (g + ties + ties.T).tocsr()
    model = HDBSCAN(min_cluster_size=params.min_cluster_size, min_samples=params.min_samples, metric="precomputed",
                    allow_single_cluster=params.single_cluster, copy=True)
    return np.asarray(model.fit(g).labels_, np.int64)


def _whispers(g: sparse.csr_matrix, params: ClusterParams) -> Labels:
    """Chinese whispers, in input order (deterministic): each face takes the label with the most closeness
    among its neighbours, ties to the smallest label."""
    n = g.shape[0]
    labels = np.arange(n, dtype=np.int64)
    weight = g.copy()
    weight.data = np.maximum(0.0, params.link_distance - g.data) + 1e-6  # closer = stronger
    indptr, indices, data = weight.indptr, weight.indices, weight.data
    for _ in range(params.whisper_rounds):
        changed = 0
        for i in range(n):
            lo, hi = indptr[i], indptr[i + 1]
            if lo == hi:
                continue
            neighbour_labels = labels[indices[lo:hi]]
            ids, inverse = np.unique(neighbour_labels, return_inverse=True)
            scores = np.bincount(inverse, weights=data[lo:hi])
            best = int(ids[np.argmax(scores)])
            if best != labels[i]:
                labels[i] = best
                changed += 1
        if not changed:
            break
    return labels


def cluster(vectors: F32, params: ClusterParams) -> Labels:
    """A cluster number per row (0, 1, ... by first member), or NOISE for faces in no cluster."""
    from scipy.sparse import csgraph
    n = len(vectors)
    if n < max(2, params.min_cluster_size) or n <= params.min_samples:
        return np.full(n, NOISE, np.int64)
    index, dist = nearest(vectors, max(params.neighbours, params.min_samples))
    if params.method == "hdbscan":
        labels = _relabel(_hdbscan(index, dist, params), params.min_cluster_size)
        if labels.max(initial=NOISE) != NOISE:
            return labels
        # HDBSCAN never makes a cluster of (nearly) all the faces, so when they are all one person (a new
        # library of one child; the last person left unnamed) it finds none: then the faces close enough in
        # the network's scale are grouped (components, which are pure at that distance on celeb5).
    if params.method == "whispers":
        labels = _whispers(_graph(index, dist, params.link_distance), params)
    else:
        labels = csgraph.connected_components(_graph(index, dist, params.link_distance),
                                              directed=False)[1].astype(np.int64)
    return _relabel(labels, params.min_cluster_size)


def centroid(vectors: F32, normalised: bool) -> F32:
    """The centre of a group of descriptors, back on the unit sphere for a normalised network."""
    mean = np.asarray(vectors, np.float32).mean(axis=0)
    if normalised:
        norm = float(np.linalg.norm(mean))
        if norm > 0:
            mean = mean / norm
    return mean.astype(np.float32)
