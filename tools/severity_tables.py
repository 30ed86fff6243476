"""Extract the published severity tables from the generator's own source text.

``edgeprune/data/corruptions/params.py`` holds the severity parameters of every corruption
as transcribed from hendrycks/robustness (``make_cifar_c.py`` for the CIFAR set,
``make_imagenet_c.py`` for the ImageNet set). A transcription can carry a typo that no
statistical comparison resolves (shot noise at 501 photons instead of 500 moves a set's
mean difference by 0.006 levels). This tool reads the tables mechanically instead: it parses
each corruption function of a generator script, takes its ``c = [...][severity - 1]`` list
and evaluates the literal (numbers, tuples, ``np.arange(start, stop, step)`` kept as its
three arguments, and ``IMSIZE * f`` / ``244 * f`` kept as ``{"times": m, "value": f}``),
plus the factor its frost function resizes the photographs by. The JSON it writes,
``tests/data/reference/severity_tables.json``, is what ``tests/data/test_severity_tables.py``
compares ``params.py`` with; nothing of the generator but these numbers is stored.

    python tools/severity_tables.py --generator-dir ~/robustness/ImageNet-C/create_c
    python tools/severity_tables.py --generator-dir ... --check   # exit 1 if the JSON differs
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "reference" / "severity_tables.json"
SCRIPTS = {"cifar": "make_cifar_c.py", "imagenet": "make_imagenet_c.py"}
NOT_CORRUPTIONS = {"fgsm"}  # an adversarial attack in make_imagenet_c.py, not a corruption


class NotALiteral(ValueError):
    pass


def _evaluate(node: ast.AST, names: dict[str, float]):
    """The value of a table entry: numbers, tuples, np.arange(...) and products by a size."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand, names)
    if isinstance(node, ast.Tuple | ast.List):
        return [_evaluate(element, names) for element in node.elts]
    if isinstance(node, ast.Call) and ast.unparse(node.func) == "np.arange":
        return {"arange": [_evaluate(arg, names) for arg in node.args]}
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        left, right = node.left, node.right
        if isinstance(left, ast.Name) and left.id in names:
            return {"times": names[left.id], "value": _evaluate(right, names)}
        if isinstance(left, ast.Constant):
            return {"times": left.value, "value": _evaluate(right, names)}
    raise NotALiteral(ast.unparse(node))


def _severity_list(function: ast.FunctionDef) -> ast.List | None:
    """The list of ``c = [...][severity - 1]`` (or ``c = [...]``) in a function's body."""
    for statement in function.body:
        if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
            continue
        target = statement.targets[0]
        if not (isinstance(target, ast.Name) and target.id == "c"):
            continue
        value = statement.value
        if isinstance(value, ast.Subscript):
            value = value.value
        return value if isinstance(value, ast.List) else None
    return None


def _local_numbers(function: ast.FunctionDef) -> dict[str, float]:
    """Names bound to a number in the function (make_cifar_c.py's ``IMSIZE = 32``)."""
    numbers = {}
    for statement in function.body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, int | float)
        ):
            numbers[statement.targets[0].id] = statement.value.value
    return numbers


def _frost_resize(function: ast.FunctionDef) -> float:
    """The ``fx`` of the frost function's ``cv2.resize`` of its photographs (1 without one)."""
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "cv2.resize":
            for keyword in node.keywords:
                if keyword.arg == "fx":
                    return float(_evaluate(keyword.value, {}))
    return 1.0


def extract(script: Path) -> dict:
    """Every corruption's five severities and the frost resize factor of one script."""
    text = script.read_text(encoding="utf-8")
    tree = ast.parse(text)
    tables, frost_resize = {}, 1.0
    for function in tree.body:
        if not isinstance(function, ast.FunctionDef) or function.name in NOT_CORRUPTIONS:
            continue
        listed = _severity_list(function)
        if listed is None:
            continue
        rows = _evaluate(listed, _local_numbers(function))
        if len(rows) != 5:
            raise NotALiteral(f"{function.name}: {len(rows)} severities")
        tables[function.name] = rows
        if function.name == "frost":
            frost_resize = _frost_resize(function)
    return {
        "script": script.name,
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "frost_resize": frost_resize,
        "tables": tables,
    }


def extract_all(folder: Path) -> dict:
    return {name: extract(folder / script) for name, script in SCRIPTS.items()}


def _dumps(tables: dict) -> str:
    """JSON with one line per corruption, so a diff of the file names the corruption."""
    lines = ["{"]
    for i, (set_name, data) in enumerate(tables.items()):
        lines.append(f"  {json.dumps(set_name)}: {{")
        for key in ("script", "sha256", "frost_resize"):
            lines.append(f"    {json.dumps(key)}: {json.dumps(data[key])},")
        lines.append('    "tables": {')
        rows = [f"      {json.dumps(k)}: {json.dumps(v)}" for k, v in data["tables"].items()]
        lines.append(",\n".join(rows))
        lines.append("    }")
        lines.append("  }" + ("," if i < len(tables) - 1 else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--generator-dir", type=Path, required=True,
        help="hendrycks/robustness ImageNet-C/create_c (holds make_cifar_c.py and make_imagenet_c.py)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=REFERENCE)
    parser.add_argument("--check", action="store_true", help="compare with --out, write nothing")
    args = parser.parse_args()
    missing = [s for s in SCRIPTS.values() if not (args.generator_dir / s).is_file()]
    if missing:
        sys.exit(f"error: {args.generator_dir} has no {', '.join(missing)}")
    try:
        tables = extract_all(args.generator_dir)
    except (SyntaxError, NotALiteral) as error:
        sys.exit(f"error: cannot read a severity table: {error}")
    text = _dumps(tables)
    if args.check:
        same = args.out.is_file() and json.loads(args.out.read_text()) == tables
        print(f"{args.out}: {'matches' if same else 'DIFFERS from'} the generator's tables")
        sys.exit(0 if same else 1)
    args.out.write_text(text, encoding="utf-8")
    counts = ", ".join(f"{k}: {len(v['tables'])} corruptions" for k, v in tables.items())
    print(f"wrote {args.out} ({counts})")


if __name__ == "__main__":
    main()
