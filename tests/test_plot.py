"""mfjax.plot: the figures carry the data they were given (in display units) and save as valid PNGs."""
import numpy as np
import pytest

pytest.importorskip("matplotlib")

from mfjax import plot  # noqa: E402
from mfjax.fit import FitResult  # noqa: E402
from mfjax.status import Status  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _result():
    n = 4
    zeros = np.zeros(n, np.int64)
    return FitResult(model="m4", residues=("3 ALA", "5 GLY", "6 LYS", "9 THR"),
                     params={"s2": np.array([0.8, np.nan, 0.9, 0.7]), "te": np.array([50e-12, np.nan, 2e-9, 10e-12]),
                             "rex": np.array([0.0, np.nan, 1.5, 0.2])},
                     chi2=np.array([1.0, np.nan, 2.0, 3.0]), iterations=zeros, f_count=zeros, g_count=zeros,
                     h_count=zeros, status=np.array([0, Status.SKIPPED_NO_DATA, 0, 0], np.int32), grid_count=zeros,
                     n_points=np.array([6, 0, 6, 6]))


def test_parameter_figure_holds_values_and_error_bars(tmp_path):
    result = _result()
    errors = {"s2": np.array([0.01, np.nan, 0.02, 0.03]), "te": np.array([5e-12, np.nan, 1e-10, 1e-12])}
    fig = plot.parameters(result, errors=errors)
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == ["S²", "τe (ps)", "Rex (s⁻¹)"]
    for ax, name, factor in zip(axes, ("s2", "te", "rex"), (1.0, 1e12, 1.0)):
        line = ax.containers[0].lines[0]
        np.testing.assert_array_equal(line.get_xdata(), [3, 5, 6, 9])
        np.testing.assert_allclose(line.get_ydata(), result.params[name] * factor, rtol=1e-15)
    # error bar of residue 6 on the te panel spans te ± err, in ps
    segments = axes[1].containers[0].lines[2][0].get_segments()
    np.testing.assert_allclose(segments[2][:, 1], [2000 - 100, 2000 + 100], rtol=1e-12)
    path = tmp_path / "params.png"
    fig.savefig(path)
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_chi2_map_shows_log_chi2(tmp_path):
    x = np.linspace(0, 1e-9, 5)
    y = np.linspace(0.5, 1.0, 4)
    chi2 = 1.0 + (x[None, :] * 1e9 - 0.5) ** 2 + (y[:, None] - 0.8) ** 2 * 100
    fig = plot.chi2_map(x, y, chi2, "te", "s2", best=(0.5e-9, 0.8), truth=(0.5e-9, 0.8))
    ax = fig.axes[0]
    np.testing.assert_allclose(np.asarray(ax.collections[0].get_array()).reshape(4, 5), np.log10(chi2), rtol=1e-14)
    assert ax.get_xlabel() == "τe (ps)" and ax.get_ylabel() == "S²"
    marker = [line for line in ax.lines if line.get_label() == "fit"][0]
    np.testing.assert_allclose(marker.get_xydata(), [[500.0, 0.8]])
    fig.savefig(tmp_path / "map.png")
    assert (tmp_path / "map.png").read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError, match="shape"):
        plot.chi2_map(x, y, chi2.T, "te", "s2")


def test_difference_surface_is_fitted_minus_true():
    x = np.array([10e-12, 100e-12, 1e-9])
    y = np.array([0.6, 0.8])
    true = np.broadcast_to(x[None, :], (2, 3))
    fitted = true * np.array([[1.01], [0.98]])
    fig = plot.difference_surface(x, y, fitted, true, "te", "s2", name="te")
    mesh = fig.axes[0].collections[0]
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(2, 3), (fitted - true) * 1e12, rtol=1e-12)
    assert mesh.norm.vmin == -mesh.norm.vmax
