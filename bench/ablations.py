"""The paper's ablations on the demo corpus (and any config): `bmembed_lab.ablations` run
through its axes, the rows written to bench/results/ablations_<name>.json and the table
between <!-- ablations:start --> and <!-- ablations:end --> in bench/README.md.

    python bench/ablations.py [--config configs/demo.toml] [--axes inv_alpha,k,partitions]
                              [--budget-minutes N]
    python bench/ablations.py --render   # the README table again from the results file

Every variant is a cached run in the config's stage cache (a rerun trains nothing, an
interrupted sweep resumes); notebook 08 reads the same cache. One seed per variant.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def render(name: str, table, cpu: str) -> str:
    from bmembed_lab import ablations

    out = [f"### Ablations on {name} (`python bench/ablations.py`; {cpu})", "",
           "Each variant is the default recipe with the options named changed; MAP@10 on the "
           "test questions, its difference to the default recipe and to base with paired 95% "
           "intervals over the same questions; |uniformity| and normalised alignment of the "
           "trained encoder (base: "
           f"{table.iloc[0]['uniformity (base)']:.3f} and "
           f"{table.iloc[0]['alignment_norm (base)']:.3f}). One seed per variant.", "",
           "| variant | MAP@10 | - default | - base | \\|uniformity\\| | normalised alignment | "
           "exported step |", "|---|---|---|---|---|---|---|"]
    out += ["| " + " | ".join(r.values()) + " |" for r in ablations.display_rows(table)]
    return "\n".join(out + ["", ablations.reading(table)])


def main() -> None:
    import platform

    from benchutil import RESULTS, write_block

    from bmembed_lab import ablations

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/demo.toml")
    ap.add_argument("--axes", default="inv_alpha,k,partitions")
    ap.add_argument("--budget-minutes", type=float, default=0.0)
    ap.add_argument("--render", action="store_true", help="only rewrite the README table")
    a = ap.parse_args()
    config = ROOT / a.config
    name = config.stem
    out = RESULTS / f"ablations_{name}.json"
    if a.render:
        import pandas as pd

        saved = json.loads(out.read_text())
        table, cpu = pd.DataFrame(saved["rows"]), saved["cpu"]
        if "same as default" not in table:  # rows written before runs were compared by key:
            ref = table.iloc[0]  # the same scores on every question and the same geometry
            table["same as default"] = (table.axis != "default") & (
                table[["MAP@10 - default", "MAP@10 - default low", "MAP@10 - default high"]]
                .abs().sum(axis=1) == 0) & (table.uniformity == ref.uniformity)
    else:
        table = ablations.run(config, [], a.axes.split(","), a.budget_minutes)
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                    .splitlines() if ln.startswith("model name")), platform.processor())
        out.write_text(json.dumps({"config": a.config, "cpu": cpu,
                                   "rows": table.to_dict(orient="records")}, indent=1))
    write_block(ROOT / "bench" / "README.md", "ablations", render(name, table, cpu))
    print(render(name, table, cpu))


if __name__ == "__main__":
    main()
