"""Generates `cc_library` targets for Debian's system libraries via pkg-config.

Each library maps to one or more pkg-config modules. Include directories
outside /usr/include are symlinked into the generated repository (Bazel does
not accept absolute include paths) and exposed through `includes`; `-D`
flags become `defines`; everything from `--libs` becomes `linkopts`.

A missing module fails the fetch with the apt package to install, and the
repository is regenerated after `bazel shutdown`.
"""

# name: (pkg-config modules, extra linkopts, Debian package)
_LIBRARIES = {
    "absl": ([
        "absl_flat_hash_map",
        "absl_inlined_vector",
        "absl_random_random",
        "absl_status",
        "absl_statusor",
        "absl_str_format",
        "absl_strings",
        "absl_synchronization",
        "absl_time",
    ], [], "libabsl-dev"),
    "benchmark": (["benchmark"], [], "libbenchmark-dev"),
    # Debian ships no benchmark_main.pc; the archive must precede benchmark.
    "benchmark_main": (["benchmark"], ["-lbenchmark_main"], "libbenchmark-dev"),
    "bson": (["libbson-1.0"], [], "libbson-dev"),
    "gflags": (["gflags"], [], "libgflags-dev"),
    "glog": (["libglog"], [], "libgoogle-glog-dev"),
    # HTTP for the daemons' --metrics and ziggyview --serve.
    "httplib": (["cpp-httplib"], [], "libcpp-httplib-dev"),
    "gmock": (["gmock", "gtest"], [], "libgtest-dev"),
    "gtest": (["gtest"], [], "libgtest-dev"),
    "gtest_main": (["gtest_main", "gmock", "gtest"], [], "libgtest-dev"),
    # JSON parsing for tests that check the tools' output.
    # NATS JetStream between forwarders and a pool of collectors.
    "nats": (["libnats"], [], "libnats-dev"),
    "nlohmann_json": (["nlohmann_json"], [], "nlohmann-json3-dev"),
    # Regular expressions for ziggyview --where (=~).
    "re2": (["re2"], [], "libre2-dev"),
    "zmq": (["libzmq", "cppzmq"], [], "libzmq3-dev cppzmq-dev"),
    "zstd": (["libzstd"], [], "libzstd-dev"),
}

def _pkg_config(rctx, flag, modules, package):
    result = rctx.execute(["pkg-config", flag] + modules)
    if result.return_code != 0:
        fail("pkg-config %s %s failed (install with `apt-get install %s`, " %
             (flag, " ".join(modules), package) +
             "or run ./bazelw which does): " + result.stderr)
    return result.stdout.strip().split(" ")

def _system_libraries_impl(rctx):
    if rctx.which("pkg-config") == None:
        fail("pkg-config not found: apt-get install pkg-config (or run ./bazelw)")
    build = ['package(default_visibility = ["//visibility:public"])', ""]
    for name, (modules, extra_linkopts, package) in sorted(_LIBRARIES.items()):
        includes = []
        defines = []
        flags = _pkg_config(rctx, "--cflags", modules, package)
        for i, flag in enumerate(flags):
            path = None
            if flag.startswith("-I"):
                path = flag[2:]
            elif flag == "-isystem" and i + 1 < len(flags):
                path = flags[i + 1]
            elif flag.startswith("-D") and flag[2:] not in defines:
                defines.append(flag[2:])
            if path and path != "/usr/include" and rctx.path(path).exists:
                link = "include/" + path.replace("/", "_")
                if link not in includes:
                    rctx.symlink(path, link)
                    includes.append(link)
        linkopts = extra_linkopts + [
            f
            for f in _pkg_config(rctx, "--libs", modules, package)
            if f
        ]
        build.append("cc_library(")
        build.append("    name = %r," % name)
        build.append("    hdrs = glob(%r, allow_empty = True)," %
                     [d + "/**" for d in includes])
        build.append("    includes = %r," % includes)
        build.append("    defines = %r," % defines)
        build.append("    linkopts = %r," % linkopts)
        build.append(")")
        build.append("")
    rctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % rctx.name)
    rctx.file("BUILD", "\n".join(build))

system_libraries = repository_rule(
    implementation = _system_libraries_impl,
    local = True,
    configure = True,
)
