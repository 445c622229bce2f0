"""`python -m local.vertexfake` serves on loopback, prints one line, and stops cleanly on
SIGTERM and SIGINT."""

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_process_serves_on_loopback_and_stops_on_signal(sig):
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'lib'}{os.pathsep}{ROOT}"}
    proc = subprocess.Popen([sys.executable, "-m", "local.vertexfake", "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()  # printed once it serves: the readiness signal
        assert line.startswith("vertexfake listening on http://127.0.0.1:"), line
        url = line.rsplit(" ", 1)[1]
        with urllib.request.urlopen(url + "/_fake/health", timeout=10) as resp:
            assert json.loads(resp.read()) == {"ok": True}
        body = json.dumps({"instances": [{"content": "hello"}], "parameters": {"outputDimensionality": 4}}).encode()
        req = urllib.request.Request(url + "/v1beta1/projects/p/locations/l/publishers/google/models/"
                                           "text-embedding-005:predict", data=body,
                                     headers={"Authorization": "Bearer t", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert len(json.loads(resp.read())["predictions"][0]["embeddings"]["values"]) == 4
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0
        assert out == "" and err == ""  # nothing noisy: no access log, no traceback
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
