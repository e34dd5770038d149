"""The README's notebook example runs and recovers the parameters it generated the data from."""
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_notebook_example():
    text = README.read_text()
    code = text.split("## In a notebook")[1].split("```python")[1].split("```")[0]
    code = code.replace("res.to_dataframe()", "res.columns()")     # pandas is an optional extra
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    res, truth = namespace["res"], namespace["truth"]
    for name in ("s2", "te"):
        np.testing.assert_allclose(res.params[name], truth[name], rtol=1e-6)
    np.testing.assert_allclose(res.params["rex"], truth["rex"], rtol=1e-6, atol=1e-9)
    assert res.status_names == ["CONVERGED", "CONVERGED"] and np.all(res.chi2 < 1e-20)
