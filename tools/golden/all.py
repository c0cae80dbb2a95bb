"""Regenerates every committed golden file (and the on-demand model goldens) with PyTorch.

Run: /usr/bin/python3 tools/golden/all.py   (npm run golden)
"""
import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

for script in ('conv.py', 'head.py', 'ops.py', 'pth.py', 'model.py'):
    path = os.path.join(HERE, script)
    print(f'golden: {script}')
    sys.argv = [path, '--force']
    runpy.run_path(path, run_name='__main__')
