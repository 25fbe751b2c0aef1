#!/usr/bin/env python3
"""The Spack recipe and the CMake options stay in step (issue 13).

Every variant of spack/packages/phyflow/package.py must map to something real: a CMake
option() of phyflow (through define_from_variant) or a dependency/conflict it switches
(a `when="+v"` / `when="~v"` clause). Every phyflow_* option() in the CMake files must be set by
the recipe (define_from_variant or self.define), so a new option cannot be forgotten there.
A variant passed to an option that does not exist fails too.

    check_spack_options.py SOURCE_DIR
"""
import ast
import pathlib
import re
import sys


def cmake_options(root: pathlib.Path) -> dict:
    """phyflow_* option() names -> file, from every CMakeLists.txt and cmake/*.cmake."""
    found = {}
    files = [p for p in root.rglob("CMakeLists.txt")] + list((root / "cmake").glob("*.cmake"))
    for path in files:
        rel = path.relative_to(root)
        if rel.parts[0].startswith(("build", ".")):  # build trees, fetched sources
            continue
        text = path.read_text(errors="replace")
        for m in re.finditer(r"^\s*(?:option|cmake_dependent_option)\s*\(\s*(phyflow_\w+)",
                             text, re.MULTILINE | re.IGNORECASE):
            found[m.group(1)] = str(rel)
    return found


def recipe(path: pathlib.Path):
    """variants, variant -> option from define_from_variant, options set by self.define, and
    variants named in when= clauses."""
    tree = ast.parse(path.read_text())
    variants, mapped, defined, switched = [], {}, set(), set()

    def const(node):
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None

    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        args = [const(a) for a in node.args]
        if name == "variant" and args and args[0]:
            variants.append(args[0])
        elif name == "define_from_variant" and len(args) >= 1 and args[0]:
            variant = args[1] if len(args) > 1 and args[1] else args[0].lower()
            mapped.setdefault(variant, []).append(args[0])
        elif name == "define" and args and args[0]:
            defined.add(args[0])
        for kw in node.keywords:
            if kw.arg == "when":
                text = const(kw.value) or ""
                switched.update(re.findall(r"[+~]([A-Za-z_][\w-]*)", text))
        if name in ("depends_on", "conflicts") and args and args[0]:
            # conflicts("+cuda", when=...) and conflicts("~mpi") switch on the variant too.
            if name == "conflicts":
                switched.update(re.findall(r"^[+~]([A-Za-z_][\w-]*)", args[0]))
    return variants, mapped, defined, switched


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    options = cmake_options(root)
    variants, mapped, defined, switched = recipe(root / "spack/packages/phyflow/package.py")
    errors = []
    for v in variants:
        targets = mapped.get(v, [])
        for opt in targets:
            if opt.startswith("phyflow_") and opt not in options:
                errors.append(f"variant '{v}' is passed to {opt}, which no CMake option() declares")
        if not targets and v not in switched:
            errors.append(f"variant '{v}' maps to nothing: no define_from_variant and no "
                          f"dependency or conflict with when='+{v}'")
    set_by_recipe = {o for opts in mapped.values() for o in opts} | defined
    for opt, where in sorted(options.items()):
        if opt not in set_by_recipe:
            errors.append(f"CMake option {opt} ({where}) is not set by the Spack recipe: add a "
                          f"variant with define_from_variant('{opt}', ...) or a self.define")
    for e in errors:
        print("FAILED:", e)
    print(f"{len(variants)} variants, {len(options)} CMake options, {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
