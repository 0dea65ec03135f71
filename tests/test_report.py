"""`nsca report` on run folders made by the real commands and writers: the page's sections,
tables and figures, the plan's success table and §10 rule, bad input, and the page in Chromium."""

import html
import html.parser
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nsca.cli import main
from nsca.experiments import SANITY_CHECKS, protocol
from nsca.experiments.lethality import EXPERIMENT as LETHALITY
from nsca.experiments.lethality import LethalityConfig
from nsca.experiments.lethality import build_report as lethality_report
from nsca.reporting.findings import choose_finding
from nsca.reporting.page import build_report
from nsca.reporting.phases import folders

# Phase-0 success rates per condition and seed: made-up inputs to the real driver's summary and
# writers (running the grids is minutes per cell). 0.1 and none beat 0.9 by 0.2 on every seed: verdict "hurting".
DEFAULT = {"prior_0.9": [0.2, 0.3, 0.1, 0.25], "prior_0.5": [0.25, 0.3, 0.2, 0.3], "prior_0.1": [0.4, 0.5, 0.3, 0.45],
           "none": [0.4, 0.5, 0.3, 0.45], "bc": [0.4, 0.4, 0.35, 0.45]}


def curves_rates(cond: str, seed: int) -> float:
    """pick-place: corrective_0.9 is 0.2 above none at 5 demos on every seed, equal at 100; push: equal."""
    task, d, agent = cond.split("/")
    base = {"d5": 0.2, "d100": 0.9}[d] + 0.05 * seed
    if agent == "bc":
        return base - 0.05
    if agent == "corrective_0.9" and task.startswith("pick-place") and d == "d5":
        return base + 0.2
    return base


def record(cell, rate: float) -> dict:
    planner = cell.condition.startswith(("prior_", "none"))  # planners executed a plan on 10% of their steps
    return {"condition": cell.condition, "seed": cell.seed, "config": cell.config,
            "metrics": {"success_rate": rate, "prior_weight_final": 0.9 if "0.9" in cell.condition else 0.0,
                        "plans": 100 if planner else 0, "planner_departure_rate": 0.1 if planner else None}}


def run_lethality_driver(cfg: LethalityConfig, rate) -> None:
    """The real driver (start-run, summary, results.json, report.txt, plot) with the grid's cells
    answered by `rate(condition, seed)` instead of running them."""
    def fake_grid(fn_path, cells, out, **kw):
        return [record(c, rate(c.condition, c.seed)) for c in cells]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(protocol, "run_grid", fake_grid)
        protocol.run_experiment(LETHALITY, cfg)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    run_lethality_driver(LethalityConfig(n_seeds=4, out=str(runs / "lethality")), lambda c, s: DEFAULT[c][s])
    run_lethality_driver(LethalityConfig(grid="curves", n_seeds=4, tasks=["pick-place", "push"], demos_list=[5, 100],
                                         curve_agents=["bc", "none", "corrective_0.9"], out=str(runs / "curves")),
                         curves_rates)
    # Real tiny runs of the sanity checks, babbling and training.
    assert main(["sanity", "noisy-tv", "--seeds", "1", "--out", str(runs / "sanity" / "noisy-tv")]) == 0
    rc = main(["sanity", "balloon", "--seeds", "1", "--steps", "200", "--episodes", "8", "--episode-steps", "40",
               "--hidden", "64", "--out", str(runs / "sanity" / "balloon")])
    verdict = json.loads((runs / "sanity" / "balloon" / "results.json").read_text())["verdict"]
    assert rc == {"PASS": 0, "FAIL": 1}[verdict]  # at this budget either; the exit code must say which
    assert main(["babble", "--preset", "debug", "--workers", "1", "--out", str(runs / "babbling")]) == 0
    assert main(["train", "--debug", "--run-dir", str(runs / "train")]) == 0
    # An interrupted grid: config and one finished cell, no results.json.
    (runs / "decomposition" / "prior_0.9" / "0").mkdir(parents=True)
    (runs / "decomposition" / "config.json").write_text("{}")
    (runs / "decomposition" / "prior_0.9" / "0" / "metrics.json").write_text('{"metrics": {}}')
    # A corrupt results file and one of another layout.
    (runs / "eval" / "physion").mkdir(parents=True)
    (runs / "eval" / "physion" / "results.json").write_text('{"results": {"nsca": ')
    (runs / "eval" / "procgen").mkdir(parents=True)
    shutil.copy(runs / "sanity" / "noisy-tv" / "results.json", runs / "eval" / "procgen" / "results.json")
    return runs


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.imgs, self.h2, self.text, self._in = [], [], [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(dict(attrs))
        self._in = tag

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "h2":
            self.h2.append(data)
        self.text.append(data)


def build(runs: Path, tmp: Path, *extra: str) -> tuple[int, Page, str]:
    out = tmp / "report"
    rc = main(["report", "--runs", str(runs), "--out", str(out), "--babbling", str(runs / "babbling"), *extra])
    page = Page()
    page.feed((out / "report.html").read_text())
    return rc, page, (out / "report.md").read_text()


def test_report_page_from_real_run_folders(runs, tmp_path, capsys):
    rc, page, md = build(runs, tmp_path)
    printed = capsys.readouterr().out
    assert rc == 0
    text = " ".join(page.text)
    # Every phase has a heading; the status of each is what is on disk.
    for title in ("Phase 0: lethality test (default grid)", "Phase 0: 2x2 decomposition", "Phase 0: data-efficiency curves",
                  *[f"Sanity check: {check}" for check in SANITY_CHECKS], "Phases 1/3: babbling",
                  "Phase 4: world-model training runs", "Phase 7: Physion object-contact prediction", "Phase 7: Procgen",
                  "Phase 7: Meta-World ML10 few-shot", "Grounding learned from babbling", "Phase 5: ablation study"):
        assert title in page.h2, title
    assert "unfinished: 1 cell(s) done in" in text
    assert f"{runs / 'eval' / 'physion' / 'results.json'} is corrupt: not JSON" in text
    assert "is not a procgen evaluation results file" in text
    assert f"not run (no folder {runs / 'sanity' / 'forgetting'})" in text
    assert f"not run (no folder {runs / 'ablation'})" in printed
    # Figures: lethality, curves, noisy-tv, balloon, babbling, training; all inline PNG, nothing external.
    assert len(page.imgs) == 6
    assert all(i["src"].startswith("data:image/png;base64,iVBOR") for i in page.imgs)
    assert not {"link", "script", "iframe"} & set(page.tags)
    assert page.tags.count("table") >= 10
    # The plan's success table: measured numbers beside the expectations, from the runs.
    m, sd = np.mean(DEFAULT["prior_0.9"]), np.std(DEFAULT["prior_0.9"], ddof=1)
    b = np.mean(DEFAULT["none"])
    assert f"{m:.0%} ± {sd:.0%} (prior 0.9, n=4 seeds)" in text and f"{b:.0%} ±" in text and "65% ± 8%" in text
    d100 = [np.mean([curves_rates(f"{t}/d100/corrective_0.9", s) for t in ("pick-place-v3", "push-v3")]) for s in range(4)]
    assert f"{np.mean(d100):.0%} ± {np.std(d100, ddof=1):.0%} (corrective_0.9, n=4 seeds)" in text
    babble = json.loads((runs / "babbling" / "summary.json").read_text())
    assert f"{babble['affordance_coverage']:.1%} of {babble['cells']} cells" in text
    # §10: pick-place better at 5 demos, not at 100 -> rule 2, with its statistics.
    assert "Priors help at 5 demos but not 100" in text and "corrective_0.9 - none = +0.20" in text
    assert "(negative, rule 2)" in text and "rule 2): Priors help at 5 demos but not 100" in printed
    # The Markdown twin has the same sections and links figures that exist.
    assert "## Phase 0: lethality test (default grid) (done)" in md and "## Phase 5: ablation study (not run)" in md
    links = [line[line.index("](") + 2:-1] for line in md.splitlines() if line.startswith("![")]
    assert len(links) == 6 and all((tmp_path / "report" / link).stat().st_size > 1000 for link in links)


def test_a_grid_of_another_kind_is_named_in_one_line(runs, tmp_path):
    report = build_report(folders(runs, decomposition=runs / "lethality"))
    sec = next(s for s in report.sections if s.id == "decomposition")
    assert sec.status == "unreadable" and sec.note.endswith("holds a 'default' grid, not 'decomposition'")
    assert sec.blocks == []


def test_runs_without_any_phase_folder_is_refused_and_nothing_is_written(tmp_path, capsys):
    nowhere = tmp_path / "nonexist"
    assert main(["report", "--runs", str(nowhere)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"nsca report: error: no phase has a run folder under {nowhere}")
    assert not nowhere.exists()


def test_the_phase_folders_found_are_listed(runs, tmp_path, capsys):
    build(runs, tmp_path)
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("phase folders found: "))
    found = [item.split(" (")[0] for item in line.removeprefix("phase folders found: ").split(", ")]
    # What the fixture made: no ML10, grounding or ablation run.
    assert found == ["lethality", "decomposition", "curves", "sanity", "babbling", "train", "physion", "procgen"]


def test_unwritable_out_is_one_line_and_exit_2(runs, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    rc = main(["report", "--runs", str(runs), "--out", str(blocker / "report")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == [f"nsca report: error: output folder is not writable: {blocker / 'report'}"]


# Injected into a copy of the page: once loaded, what a reader sees, as JSON in a body attribute.
PROBE = """<script>window.addEventListener('load', () => {
  const shown = e => e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().height > 0;
  document.body.setAttribute('data-probe', JSON.stringify({
    h1: [...document.querySelectorAll('h1')].map(h => h.innerText),
    h2: [...document.querySelectorAll('h2')].map(h => h.innerText),
    tables: [...document.querySelectorAll('table')].map(t => ({shown: shown(t), header: t.querySelectorAll('th').length,
                                                              rows: t.querySelectorAll('tbody tr').length})),
    images: [...document.images].map(i => ({complete: i.complete, width: i.naturalWidth, shown: shown(i)}))}));
});</script></body>"""


def test_page_renders_in_headless_chromium(runs, tmp_path):
    """What a reader of the page sees in a real browser: every heading, the tables laid out with
    their rows, every figure decoded and shown, and nothing in the console."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it when run as root); "
                    "the HTML structure is tested above")
    build(runs, tmp_path)
    page = tmp_path / "report" / "report.html"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
           "--enable-logging=stderr", "--v=0"]
    # The page itself: no console message at all (it has no scripts; a message would be a failed
    # resource, a blocked inline or a parse error), and a screenshot that is not blank.
    shot = tmp_path / "shot.png"
    run = subprocess.run([*cmd, f"--screenshot={shot}", "--window-size=1200,3000", page.as_uri()], capture_output=True,
                         text=True, timeout=120, check=True)
    assert [line for line in run.stderr.splitlines() if ":CONSOLE" in line] == []
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (3000, 1200)
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 100  # text, tables and plots, not a blank page
    # A copy with the probe: headings, tables and images as laid out and decoded.
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE))
    dom = subprocess.run([*cmd, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    seen = json.loads(html.unescape(dom.split('data-probe="')[1].split('"')[0]))
    assert seen["h1"] == ["NSCA report"]
    report = build_report(folders(runs, babbling=runs / "babbling"))
    for s in report.sections:  # each section's heading with its status badge, as rendered
        assert any(h.startswith(s.title) and h.endswith(s.status) for h in seen["h2"]), (s.title, seen["h2"])
    assert len(seen["tables"]) >= 10 and all(t["shown"] and t["header"] > 0 and t["rows"] > 0 for t in seen["tables"])
    assert len(seen["images"]) == 6
    assert all(i["complete"] and i["width"] > 100 and i["shown"] for i in seen["images"]), seen["images"]


def _records(rates: dict) -> list[dict]:
    class C:
        def __init__(self, cond, seed):
            self.condition, self.seed, self.config = cond, seed, {"eval_episodes": 10}

    return [record(C(cond, s), r) for cond, per in rates.items() for s, r in enumerate(per)]


def _curves(rate) -> dict:
    cfg = LethalityConfig(grid="curves", n_seeds=5, tasks=["pick-place", "push"], demos_list=[5, 10, 100])
    conds = [f"{t}/d{d}/{a}" for t in ("pick-place-v3", "push-v3") for d in (5, 10, 100)
             for a in ("bc", "none", "corrective_0.9")]
    return lethality_report(cfg, _records({c: [rate(c, s) for s in range(5)] for c in conds}))


def _gain(gains: dict):
    """Success 0.3 + 0.02 * seed; corrective_0.9 gets gains[(task, demos)] on top."""
    def rate(cond, s):
        task, d, agent = cond.split("/")
        bonus = gains.get((task.removesuffix("-v3"), int(d[1:])), 0.0) if agent == "corrective_0.9" else 0.0
        return 0.3 + 0.02 * s + bonus
    return rate


def test_finding_rules():
    everywhere_low = _curves(_gain({("pick-place", 5): 0.2, ("pick-place", 10): 0.1, ("push", 5): 0.15, ("push", 10): 0.1}))
    assert choose_finding(None, everywhere_low)["rule_applied"] == 1
    worse_high = _curves(_gain({("pick-place", 5): 0.2, ("push", 5): 0.15, ("push", 100): -0.1}))
    assert choose_finding(None, worse_high)["rule_applied"] == 2  # not positive: worse at 100 on push
    only_push = _curves(_gain({("push", 5): 0.2, ("push", 10): 0.2}))
    f = choose_finding(None, only_push)
    assert f["rule_applied"] == 3 and f["title"] == "Priors help on push-v3 but not on pick-place-v3"
    nothing = _curves(_gain({}))
    hurting = lethality_report(LethalityConfig(n_seeds=4), _records(DEFAULT))
    f = choose_finding(hurting, nothing)
    assert f["rule_applied"] == 4 and f["kind"] == "negative" and "priors hurt" in f["title"]
    assert "prior 0.1 - prior 0.9 = +0.20" in f["text"] and "no detectable benefit of the prior at any demo count" in f["text"]
    validated = lethality_report(LethalityConfig(n_seeds=4), _records({**DEFAULT, "prior_0.1": DEFAULT["prior_0.9"],
                                                                       "prior_0.9": [0.5, 0.6, 0.55, 0.7]}))
    assert choose_finding(validated, None)["kind"] == "positive"
    assert choose_finding(None, None)["rule_applied"] == 5


def test_ablation_section_reads_an_nsca_ablate_run(runs, tmp_path):
    """A real (tiny) `nsca ablate` run folder becomes the phase-5 section: its table, the
    not-applicable conditions with their reasons, the verdict and the figure."""
    assert main(["ablate", "--preset", "tiny", "--n-seeds", "1", "--conditions", "prior_0.9", "no_gravity",
                 "no_ewc", "bc", "--out", str(tmp_path / "abl")]) == 0
    report = build_report(folders(runs, ablation=tmp_path / "abl"))
    sec = next(s for s in report.sections if s.id == "ablation")
    assert sec.status == "done", sec.note
    tables = [b for b in sec.blocks if hasattr(b, "header")]
    assert [r[0] for r in tables[0].rows] == ["prior_0.9", "no_gravity", "bc"] and "Holm p" in tables[0].header
    text = " ".join(b for b in sec.blocks if isinstance(b, str))
    assert "no_ewc: not applicable" in text and "Verdict:" in text
    assert any(getattr(b, "name", "").endswith(".png") for b in sec.blocks)
