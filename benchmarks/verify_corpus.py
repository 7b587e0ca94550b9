"""How often `ganlab verify` gives the right verdict on loss code as people really write it.

Runs verify on every entry of the regression corpus (tests/analysis/corpus.py:
third-party-style plugins in the manner of torchgan, torch-mimicry,
PyTorch-GAN and PyTorch-StudioGAN, each correct or a known bug) and prints one
row per entry and the agreement:

    python benchmarks/verify_corpus.py

To measure an older ganlab on the same corpus, install it elsewhere and put it
first: ``pip install --no-deps --target /tmp/old <checkout>`` and
``PYTHONPATH=/tmp/old python benchmarks/verify_corpus.py``.

Correct code must pass (exit 0); a bug must fail, on the claim named with it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "analysis"))

from ganlab.analysis import claims as C  # noqa: E402

if not hasattr(C, "Relativistic"):  # an older ganlab put first on PYTHONPATH, for the "before" figures
    C.Relativistic = lambda **kwargs: None

import corpus  # noqa: E402
from ganlab.analysis.suite import verify  # noqa: E402
from ganlab.manager import make_plugin_manager  # noqa: E402


def main() -> int:
    start = time.perf_counter()
    rows, right, on_claim = [], 0, 0
    entries = corpus.entries()
    for e in entries:
        pm = make_plugin_manager(autoload=False)
        pm.add_plugin(e.module, e.name, source="corpus")
        report = verify(pm, [e.name])
        failed = sorted({r.claim for r in report.results if r.status == C.FAIL})
        good = report.ok == e.correct
        named = good and (e.correct or set(e.fails) <= set(failed))
        right += good
        on_claim += named
        rows.append((e.name, "correct" if e.correct else "bug", "PASS" if report.ok else "FAIL",
                     ", ".join(failed) or "-", "yes" if named else "NO", e.style))
    widths = [max(len(r[i]) for r in rows + [("entry", "kind", "verdict", "failed claims", "right", "style")])
              for i in range(6)]
    for r in [("entry", "kind", "verdict", "failed claims", "right", "style")] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    n_ok = sum(e.correct for e in entries)
    ok_pass = sum(1 for e, r in zip(entries, rows) if e.correct and r[2] == "PASS")
    bugs_caught = sum(1 for e, r in zip(entries, rows) if not e.correct and r[4] == "yes")
    print(f"\ncorrect code passed: {ok_pass}/{n_ok}; bugs caught on their claim: {bugs_caught}/{len(entries) - n_ok}; "
          f"right verdicts: {right}/{len(entries)} in {time.perf_counter() - start:.1f} s")
    return 0 if right == len(entries) and on_claim == len(entries) else 1


if __name__ == "__main__":
    sys.exit(main())
