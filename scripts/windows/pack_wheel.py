"""Packs the Windows wheel of winipc from the pure package and the cross-built
extension modules (used by build-wheel.sh; runs on the host):

    python pack_wheel.py REPO_ROOT PYD_DIR STAGE_DIR DIST_DIR TAG

It lays out STAGE_DIR/<name>-<version>/ (the package's *.py, py.typed, *.pyi,
the .pyd files from PYD_DIR, and a .dist-info with METADATA and WHEEL whose
fields come from pyproject.toml), then lets `python -m wheel pack` write the
RECORD and the .whl into DIST_DIR.  Prints the wheel's path.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tomllib


def metadata(project, root):
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
    ]
    if "description" in project:
        lines.append(f"Summary: {project['description']}")
    if "requires-python" in project:
        lines.append(f"Requires-Python: {project['requires-python']}")
    lic = project.get("license")
    if isinstance(lic, dict) and "text" in lic:
        lines.append(f"License: {lic['text']}")
    elif isinstance(lic, str):
        lines.append(f"License: {lic}")
    for c in project.get("classifiers", []):
        lines.append(f"Classifier: {c}")
    for req in project.get("dependencies", []):
        lines.append(f"Requires-Dist: {req}")
    for extra, reqs in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        for req in reqs:
            lines.append(f'Requires-Dist: {req}; extra == "{extra}"')
    body = ""
    readme = project.get("readme")
    if isinstance(readme, str) and os.path.exists(os.path.join(root, readme)):
        kind = "text/markdown" if readme.endswith(".md") else "text/plain"
        lines.append(f"Description-Content-Type: {kind}")
        with open(os.path.join(root, readme), encoding="utf-8") as f:
            body = "\n" + f.read()
    return "\n".join(lines) + "\n" + body


def main():
    root, pyd_dir, stage, dist, tag = sys.argv[1:]
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        config = tomllib.load(f)
    project = config["project"]
    name = re.sub(r"[-_.]+", "_", project["name"]).lower()
    version = project["version"]
    packages = config.get("tool", {}).get("setuptools", {}).get("packages", [name])
    package_data = config.get("tool", {}).get("setuptools", {}).get("package-data", {})

    tree = os.path.join(stage, f"{name}-{version}")
    shutil.rmtree(tree, ignore_errors=True)
    for package in packages:
        src = os.path.join(root, *package.split("."))
        dst = os.path.join(tree, *package.split("."))
        os.makedirs(dst)
        patterns = ["*.py"] + list(package_data.get(package, []))
        for pattern in patterns:
            for path in sorted(glob.glob(os.path.join(src, pattern))):
                shutil.copy2(path, dst)
        for path in sorted(glob.glob(os.path.join(pyd_dir, *package.split("."), "*.pyd"))):
            shutil.copy2(path, dst)

    info = os.path.join(tree, f"{name}-{version}.dist-info")
    os.makedirs(info)
    with open(os.path.join(info, "METADATA"), "w", encoding="utf-8", newline="\n") as f:
        f.write(metadata(project, root))
    with open(os.path.join(info, "WHEEL"), "w", encoding="utf-8", newline="\n") as f:
        f.write("Wheel-Version: 1.0\n"
                "Generator: winipc scripts/windows/build-wheel.sh\n"
                "Root-Is-Purelib: false\n"
                f"Tag: {tag}\n")
    with open(os.path.join(info, "top_level.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(p.split(".")[0] + "\n" for p in sorted(set(packages))))
    for lic in ("LICENSE", "LICENSE.txt", "LICENSE.md"):
        if os.path.exists(os.path.join(root, lic)):
            shutil.copy2(os.path.join(root, lic), info)

    os.makedirs(dist, exist_ok=True)
    wheel = os.path.join(dist, f"{name}-{version}-{tag}.whl")
    if os.path.exists(wheel):
        os.remove(wheel)
    subprocess.run([sys.executable, "-m", "wheel", "pack", "--dest-dir", dist, tree],
                   check=True, stdout=subprocess.DEVNULL)
    if not os.path.exists(wheel):
        sys.exit(f"pack_wheel.py: wheel pack did not write {wheel}")
    print(wheel)


if __name__ == "__main__":
    main()
