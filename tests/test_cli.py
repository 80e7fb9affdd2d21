import json
import subprocess
import sys

MESHVID = [sys.executable, "-m", "meshvid.cli.main"]


def test_version():
    out = subprocess.run([*MESHVID, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("meshvid ")


def test_doctor_json_reports_every_check_and_all_required_pass():
    out = subprocess.run([*MESHVID, "doctor", "--json"], capture_output=True, text=True,
                         timeout=300)
    summary = json.loads(out.stdout)
    names = {c["name"] for c in summary["checks"]}
    assert {"torch", "renderer", "body model", "detector", "video", "bpy", "smpl"} <= names
    failed = [c for c in summary["checks"] if c["required"] and not c["ok"]]
    assert not failed, failed
    assert summary["ok"] and out.returncode == 0


def test_expected_failure_is_one_line_without_traceback(tmp_path):
    # a missing SMPL directory is an expected failure: one readable line, non-zero exit
    code = "\n".join([
        "import sys",
        "from meshvid.errors import MissingAssetError",
        "import meshvid.cli.main as m",
        "@m.app.command('boom')",
        "def boom():",
        "    raise MissingAssetError('SMPL files not found in X: download them')",
        "sys.argv = ['meshvid', 'boom']",
        "m.run()",
    ])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "SMPL files not found" in out.stderr
