#!/usr/bin/python3
"""The copy of tus-js-client's browser build the gateway serves
(web/vendor/tus-js-client) is the npm package's own file, of the version
VERSION names: byte for byte the one in tests/tus/node_modules (or
tests/web/node_modules), when one is installed; and the gateway's compiled-in
copy is that file, after its licence comment, less the source map line."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import v2mtest as t  # noqa: E402

VENDOR = os.path.join(t.SRC, "web/vendor/tus-js-client")
# The compiled-in bytes, in the build folder beside bin/.
PAGE_H = os.path.join(os.environ.get("V2M_BUILD", os.path.join(t.BIN, "..")), "src/gateway/page.h")


def installed():
    for d in ("tests/tus", "tests/web"):
        pkg = os.path.join(t.SRC, d, "node_modules/tus-js-client")
        if os.path.isfile(os.path.join(pkg, "dist/tus.min.js")):
            return pkg
    return None


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_vendored_files_present():
    for name in ("tus.min.js", "LICENSE", "VERSION", "README.md"):
        assert os.path.getsize(os.path.join(VENDOR, name)) > 0, name
    assert b"MIT License" in read(os.path.join(VENDOR, "LICENSE"))
    assert re.fullmatch(rb"\d+\.\d+\.\d+\n", read(os.path.join(VENDOR, "VERSION")))


def test_same_as_the_npm_package():
    pkg = installed()
    if not pkg:
        raise t.Skip("no tus-js-client in tests/tus/node_modules or tests/web/node_modules "
                     "(make deps installs it)")
    import json
    version = json.loads(read(os.path.join(pkg, "package.json")))["version"]
    assert read(os.path.join(VENDOR, "VERSION")).decode().strip() == version, version
    for ours, theirs in (("tus.min.js", "dist/tus.min.js"), ("LICENSE", "LICENSE")):
        assert read(os.path.join(VENDOR, ours)) == read(os.path.join(pkg, theirs)), \
            "web/vendor/tus-js-client/%s differs from the package's %s %s" % (ours, theirs, version)


def test_compiled_in_copy():
    if not os.path.isfile(PAGE_H):
        raise t.Skip("no %s (build the gateway first)" % PAGE_H)
    text = open(PAGE_H).read()
    arr = re.search(r"gw_tus_js\[\] = \{([^}]*)\}", text).group(1)
    served = bytes(int(x, 16) for x in arr.split(",") if x.strip())
    version = read(os.path.join(VENDOR, "VERSION")).decode().strip()
    banner, _, rest = served.partition(b"\n")
    assert banner.startswith(b"/*! tus-js-client " + version.encode()) and b"MIT License" in banner, banner
    js = read(os.path.join(VENDOR, "tus.min.js"))
    assert rest == js.rstrip(b"\n").rsplit(b"\n//# sourceMappingURL=", 1)[0] + b"\n", "the script differs"


t.run(globals(), "test_web_vendor")
