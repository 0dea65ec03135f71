"""The phases `nsca report` reads: one registry entry each, read by the command (its `--<name>`
flag), the folders (`folders`) and the page (the section's title, reader and figure).

Adding a phase to the report is one `Phase` here: its name (flag and section id), the module
that writes its folder (an experiment's module, whose `plot_name` names its figure and whose
`format_report` a suite's section shows), its default folder under `--runs`, its title, what is
read there (the flag's help) and its reader (nsca.reporting.sections).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nsca.reporting import sections as S


@dataclass(frozen=True)
class Phase:
    name: str                 # the --<name> flag and the section id
    experiment: str | None    # the module that writes the folder (None: several, e.g. the sanity checks')
    folder: str | None        # default folder under --runs; None: the babbling store's ($NSCA_DATA_ROOT/babbling)
    title: str                # the section heading
    reads: str                # what is read there (the flag's help)
    read: S.Reader | None = None   # fills the section from the folder's `results` file
    results: str = "results.json"
    caption: str = ""         # the figure's caption
    sections: Callable[[Phase, Path], list[S.Section]] | None = None  # instead of `read`: a folder of folders

    def build(self, folder: Path) -> list[S.Section]:
        if self.sections is not None:
            return self.sections(self, folder)
        return [S.build_section(self, folder, self.read, self.results)]

    def default_folder(self, runs: Path) -> Path:
        from nsca.data.store import default_babbling_dir

        return default_babbling_dir() if self.folder is None else runs / self.folder


LETHALITY = "nsca.experiments.lethality"
PHASES = (
    Phase("lethality", LETHALITY, "lethality", "Phase 0: lethality test (default grid)",
          "results.json of the default grid (`nsca lethality`) and its plot", S.lethality("default"),
          caption="success per condition"),
    Phase("decomposition", LETHALITY, "decomposition", "Phase 0: 2x2 decomposition",
          "the same, `--grid decomposition`", S.lethality("decomposition"), caption="success per condition"),
    Phase("curves", LETHALITY, "curves", "Phase 0: data-efficiency curves",
          "the same, `--grid curves` (the per-task answer and the plot are recomputed from it)", S.lethality("curves")),
    Phase("sanity", None, "sanity", "Sanity checks",
          "a folder per sanity check, named as the check (noisy-tv/, ...); other folders there are listed",
          sections=S.sanity),
    Phase("babbling", "nsca.babbling.run", None, "Phases 1/3: babbling", "summary.json and the plot of `nsca babble`",
          S.babbling, results="summary.json", caption="learning progress and competence per primitive"),
    Phase("train", "nsca.training.plots", "train", "Phase 4: world-model training runs",
          "`nsca train` run folders: each summary.json and loss curve", sections=S.training,
          caption="losses and prior weight"),
    Phase("physion", "nsca.evaluation.physion_ocp", "eval/physion", "Phase 7: Physion object-contact prediction",
          "`nsca eval physion` output", S.suite(), caption="OCP accuracy per scenario"),
    Phase("procgen", "nsca.evaluation.procgen", "eval/procgen", "Phase 7: Procgen", "`nsca eval procgen` output",
          S.suite(), caption="PPO training curves"),
    Phase("ml10", "nsca.evaluation.metaworld_ml10", "eval/metaworld-ml10", "Phase 7: Meta-World ML10 few-shot",
          "`nsca eval metaworld-ml10` output", S.suite(key="table"), caption="success by k demos"),
    Phase("grounding", "nsca.evaluation.grounding", "eval/grounding", "Grounding learned from babbling",
          "`nsca eval grounding` output", S.suite(key="supervision"), caption="probe accuracy"),  # a run before issue 22's rebuild has none
    Phase("ablation", "nsca.experiments.ablation", "ablation", "Phase 5: ablation study", "`nsca ablate` output",
          S.ablation, caption="IQM per condition and performance profiles"),
)


def folders(runs: str | Path, **overrides: str | Path | None) -> dict[str, Path]:
    """Each phase's folder: `overrides[name]` where given, else its default under `runs`."""
    runs = Path(runs)
    unknown = set(overrides) - {p.name for p in PHASES}
    if unknown:
        raise TypeError(f"no phase named {', '.join(sorted(unknown))}")
    return {p.name: Path(overrides[p.name]) if overrides.get(p.name) else p.default_folder(runs) for p in PHASES}
