"""Local stand-ins for the rule repositories Bazel 4.2.3 would otherwise download.

Debian's `bazel-bootstrap` builds offline, but Bazel's own WORKSPACE suffix
still names `rules_cc`, `rules_java` and `remote_coverage_tools`. Each shim
below is a generated repository whose rules forward to the native ones, so no
fetch is ever attempted. `bazel coverage` does not work with these shims.
"""

def _forwarders(rules):
    return "".join([
        "def {0}(**kwargs):\n    native.{0}(**kwargs)\n\n".format(rule)
        for rule in rules
    ])

_CC_RULES = [
    "cc_binary",
    "cc_import",
    "cc_library",
    "cc_proto_library",
    "cc_test",
    "cc_toolchain",
    "cc_toolchain_suite",
    "fdo_prefetch_hints",
    "fdo_profile",
    "objc_import",
    "objc_library",
]

_JAVA_RULES = [
    "java_binary",
    "java_import",
    "java_library",
    "java_runtime",
    "java_toolchain",
]

def _shim_repository_impl(rctx):
    rctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % rctx.name)
    rctx.file("BUILD", rctx.attr.root_build)
    for path, rules in rctx.attr.defs.items():
        rctx.file(path + "/BUILD", "exports_files([\"defs.bzl\"])\n")
        rctx.file(path + "/defs.bzl", _forwarders(rules))

_shim_repository = repository_rule(
    implementation = _shim_repository_impl,
    attrs = {
        "defs": attr.string_list_dict(),
        "root_build": attr.string(default = ""),
    },
)

def rule_shims():
    """Declares the three shim repositories. Call from WORKSPACE."""
    _shim_repository(name = "rules_cc", defs = {"cc": _CC_RULES})
    _shim_repository(name = "rules_java", defs = {"java": _JAVA_RULES})
    _shim_repository(
        name = "remote_coverage_tools",
        root_build = "\n".join([
            "package(default_visibility = [\"//visibility:public\"])",
            "filegroup(name = \"coverage_report_generator\")",
            "filegroup(name = \"lcov_merger\")",
            "",
        ]),
    )
