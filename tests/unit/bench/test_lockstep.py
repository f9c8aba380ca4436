"""bench/lockstep.py runs two trees' parse path in turn on one core and reports both."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_a_tree_against_itself_decides_every_message_in_turn_and_writes_both_figures(tmp_path):
    out = tmp_path / "lockstep.json"
    done = subprocess.run([sys.executable, "bench/lockstep.py", str(ROOT), str(ROOT), "--size", "tiny",
                           "--events", "3000", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["events"] == 3000 and result["size"] == "tiny"
    this, other = result["trees"]["this"], result["trees"]["other"]
    assert this["path"] == other["path"] == str(ROOT) and this["commit"] == other["commit"]
    assert this["cpu_us_per_event"] > 0 and other["cpu_us_per_event"] > 0
    assert result["ratio_this_to_other"] == round(this["cpu_us_per_event"] / other["cpu_us_per_event"], 3)
    assert "ratio this / other" in done.stdout
