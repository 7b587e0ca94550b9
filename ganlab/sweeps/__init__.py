"""``ganlab compare``: a sweep of variants x option grid x seeds, one ordinary run folder per cell.

* :mod:`.sweep` reads a sweep (a TOML file or the short command-line form),
  resolves it and expands it into cells;
* :mod:`.cells` runs one cell (new, resumed or failed) and records its status;
* :mod:`.executors` runs the cells: in-process, in a process pool, or as
  SLURM jobs through submitit;
* :mod:`.aggregate` turns the cells' last ``eval.jsonl`` rows into the results
  table (mean, std, bootstrap interval), :mod:`.plots` draws them;
* :mod:`.command` is the subcommand itself.
"""
