"""verify's figures stay readable: every series has its own look, and wide ranges get log axes."""

from __future__ import annotations

from ganlab.analysis import plots
from ganlab.analysis.suite import verify


def test_every_series_has_a_distinct_style():
    seen = [(plots.style(i)["color"], plots.style(i)["marker"], plots.style(i)["linestyle"]) for i in range(60)]
    assert len(set(seen)) == 60
    # neighbours differ in marker too, so colour-blind readers and grey prints tell them apart
    assert all(plots.style(i)["marker"] != plots.style(i + 1)["marker"] for i in range(59))


def test_optimal_d_and_dirac_figures_use_log_axes_and_label_every_series(fresh_pm, tmp_path, monkeypatch):
    figures = {}

    def keep(fig, path):
        figures[path.name] = fig
        return path

    monkeypatch.setattr(plots, "save", keep)
    report = verify(fresh_pm, ["gan", "lsgan", "fgan", "r1"])
    plots.write_all(report, tmp_path)
    ax = figures["optimal_d.png"].axes[0]
    assert ax.get_yscale() == "symlog"  # Pearson's t* reaches 2e3 while LSGAN's stays within ±1
    labels = ax.get_legend_handles_labels()[1]
    assert len(labels) == len({r.plugin for r in report.results if r.claim == "optimal-d" and "t_numeric" in r.data})
    eig = figures["dirac.png"].axes[-1]
    assert eig.get_xscale() == "symlog"
    handles, names = eig.get_legend_handles_labels()
    looks = {(str(h.get_color()), h.get_marker()) for h in handles}
    assert len(looks) == len(names)
