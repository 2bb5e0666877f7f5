"""python run.py: the quickstart (tiny network, 3 samples)."""

import json
import os

import pytest

from tests.cli.conftest import TINY_FLAGS, read_jsonl, run

# run.py in a subprocess, end to end.
pytestmark = pytest.mark.e2e


def test_quickstart_prints_the_best_cell(tmp_path):
  out = str(tmp_path / 'out')
  proc = run(f'--output={out}', '--n_samples=3', *TINY_FLAGS)
  runs = read_jsonl(os.path.join(out, 'search.jsonl'))
  assert len(runs) == 1 and runs[0]['evaluated'] == 3
  assert f'best of 3 NB201 cells by naswot: {runs[0]["arch"]}' in proc.stderr
  config = json.load(open(os.path.join(out, 'config.json')))
  # CIFAR-10 from tfds when prepared, else synthetic noise (and said so).
  assert config['data'] in ('cifar10', 'synthetic')
  assert (config['data'] == 'synthetic') == (config['data_note'] is not None)
