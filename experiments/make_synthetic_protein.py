"""Write the bundled synthetic protein (``mfjax/examples/synthetic_protein/``): a 56-residue 15N data set
with known truth, for the README's main job (model selection, errors, the diffusion tensor).

Nothing here is real protein data: N positions are spread inside a 14 Å ball, each N–H bond (1.02 Å)
points along a Fibonacci-sphere direction (so the tensor is well determined), the tumbling is a prolate
spheroid (τm 8 ns, Dpar/Dper 1.3, unique axis at θ 1.0 rad, φ 0.5 rad), and each residue's dynamics
follow one of m1, m2, m3, m4, m5 with parameters typical of a folded protein (loops and termini more
mobile). R1, R2 and the NOE at 600 and 800 MHz are back-calculated with mfjax (r 1.02 Å, CSA −172 ppm,
relax's constants), then Gaussian noise is added (seed 2008): σ(R1) = σ(R2) = 2 %, σ(NOE) = 0.03.
Residue 1 (MET) and the prolines have no amide proton: they appear without data, as in a real data set.

    python experiments/make_synthetic_protein.py          # rewrites the folder (deterministic)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import mfjax

OUT = Path(__file__).resolve().parents[1] / "mfjax" / "examples" / "synthetic_protein"
SEQUENCE = ("MQYKLILNGKTLKGETTTEAVDAATAEKVFKQYANDNGVDGEWTYDDATKTFTVTE")   # 56 residues
FIELDS = (600.0, 800.0)
TENSOR = dict(tm=8e-9, dratio=1.3, theta=1.0, phi=0.5)
R, CSA = 1.02e-10, -172e-6
SEED = 2008


def spheroid():
    diso = 1.0 / (6.0 * TENSOR["tm"])
    # Dpar = Diso + 2Da/3, Dper = Diso − Da/3 and Dpar/Dper = ρ  →  Da = 3 Diso (ρ − 1)/(ρ + 2)
    rho = TENSOR["dratio"]
    da = 3.0 * diso * (rho - 1.0) / (rho + 2.0)
    return mfjax.Spheroid(tm=TENSOR["tm"], da=da, theta=TENSOR["theta"], phi=TENSOR["phi"])


def fibonacci_directions(n, rng):
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = np.pi * (1.0 + 5 ** 0.5) * k
    v = np.stack([np.sqrt(1 - z ** 2) * np.cos(phi), np.sqrt(1 - z ** 2) * np.sin(phi), z], axis=1)
    return v[rng.permutation(n)]


def dynamics(n, rng):
    """Per-residue model and SI parameters: termini and two loops mobile, the core rigid."""
    models, params = [], []
    for i in range(n):
        loop = i < 3 or i >= n - 3 or 9 <= i <= 12 or 36 <= i <= 40
        if loop and i % 2 == 0:
            s2f, s2s = rng.uniform(0.75, 0.88), rng.uniform(0.6, 0.85)
            m, p = "m5", dict(s2f=s2f, s2=s2f * s2s, ts=rng.uniform(0.8e-9, 2.5e-9))
        elif loop:
            m, p = "m2", dict(s2=rng.uniform(0.55, 0.75), te=rng.uniform(40e-12, 150e-12))
        elif i % 7 == 3:
            m, p = "m4", dict(s2=rng.uniform(0.8, 0.9), te=rng.uniform(20e-12, 80e-12), rex=rng.uniform(1.5, 4.0))
        elif i % 7 == 5:
            m, p = "m3", dict(s2=rng.uniform(0.82, 0.92), rex=rng.uniform(1.0, 3.0))
        else:
            m, p = "m1", dict(s2=rng.uniform(0.82, 0.93))
        models.append(m)
        params.append({k: float(v) for k, v in p.items()})
    return models, params


def write_pdb(path, names, n_pos, h_pos, has_h):
    lines, serial = [], 1
    for i, name in enumerate(names):
        res = i + 1
        for atom, xyz in (("N", n_pos[i]), ("H", h_pos[i])):
            if atom == "H" and not has_h[i]:
                continue
            lines.append(f"ATOM  {serial:5d}  {atom:<3s} {name:3s} A{res:4d}    "
                         f"{xyz[0]:8.3f}{xyz[1]:8.3f}{xyz[2]:8.3f}  1.00  0.00           {atom[0]:>2s}")
            serial += 1
    lines += ["TER", "END"]
    path.write_text("\n".join(lines) + "\n")


def main():
    rng = np.random.default_rng(SEED)
    three = dict(A="ALA", R="ARG", N="ASN", D="ASP", C="CYS", Q="GLN", E="GLU", G="GLY", H="HIS", I="ILE",
                 L="LEU", K="LYS", M="MET", F="PHE", P="PRO", S="SER", T="THR", W="TRP", Y="TYR", V="VAL")
    names = [three[a] for a in SEQUENCE]
    n = len(names)
    has_h = np.array([i > 0 and names[i] != "PRO" for i in range(n)])
    n_pos = rng.normal(size=(n, 3))
    n_pos = 14.0 * n_pos / np.linalg.norm(n_pos, axis=1, keepdims=True) * rng.uniform(0.3, 1.0, (n, 1)) ** (1 / 3)
    n_pos = np.round(n_pos, 3)
    h_pos = np.round(n_pos + 1.02 * fibonacci_directions(n, rng), 3)
    vectors = h_pos - n_pos                      # the truncated coordinates define the vectors (as in relax)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    models, params = dynamics(n, rng)
    kinds = ["R1", "R2", "NOE"] * len(FIELDS)
    fields = [f for f in FIELDS for _ in range(3)]
    exp = mfjax.Experiment(kinds=kinds, fields_mhz=fields, nucleus="15N")
    values = np.zeros((n, len(kinds)))
    diffusion = spheroid()
    for m in sorted(set(models)):
        rows = [i for i in range(n) if models[i] == m]
        p = {k: np.array([params[i][k] for i in rows]) for k in params[rows[0]]}
        values[rows] = mfjax.back_calc(exp, m, p, diffusion=diffusion, r=R, csa=CSA, vectors=vectors[rows])
    errors = np.where(np.array(kinds) == "NOE", 0.03, 0.02 * values)
    noisy = values + errors * rng.normal(size=values.shape)

    OUT.mkdir(parents=True, exist_ok=True)
    for j, (kind, field) in enumerate(zip(kinds, fields)):
        lines = ["#Num Name  Value                  Error"]
        for i in range(n):
            cells = f"{i + 1:<4d} {names[i]:<4s}"
            lines.append(cells + (f"  {float(noisy[i, j])!r:<22s} {float(errors[i, j])!r}" if has_h[i] else ""))
        (OUT / f"{kind.lower()}.{field:g}.out").write_text("\n".join(lines) + "\n")
    write_pdb(OUT / "structure.pdb", names, n_pos, h_pos, has_h)
    truth = dict(note="synthetic: see experiments/make_synthetic_protein.py", seed=SEED, r=R, csa=CSA,
                 fields_mhz=list(FIELDS), rex_field_mhz=FIELDS[0],
                 tensor=dict(type="spheroid", tm=diffusion.tm, da=diffusion.da, theta=diffusion.theta,
                             phi=diffusion.phi),
                 residues=[dict(label=f"{i + 1} {names[i]}", model=models[i] if has_h[i] else None,
                                params=params[i] if has_h[i] else None) for i in range(n)])
    (OUT / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
