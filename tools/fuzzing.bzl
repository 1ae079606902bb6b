"""ziggy_fuzzer: a libFuzzer target and a test that replays its corpus."""

def ziggy_fuzzer(name, srcs, deps = [], corpus = []):
    """Declares a fuzzer and its corpus regression test.

    `<name>` (which must end in "_fuzzer") is the libFuzzer binary: build it
    with --config=fuzz (clang); tagged manual so that `bazel test //...`
    under gcc never links it. `<name>_corpus_test` runs every input of
    `corpus` (files, usually glob(["testdata/<name>_corpus/*"])) through
    LLVMFuzzerTestOneInput once, with any compiler and sanitizer.

    Args:
      name: the fuzzer's name, "<something>_fuzzer".
      srcs: sources; one defines LLVMFuzzerTestOneInput.
      deps: what the sources use.
      corpus: the seed inputs, kept in the repository.
    """
    if not name.endswith("_fuzzer"):
        fail("a fuzzer's name ends in _fuzzer: " + name)
    if not corpus:
        fail(name + " needs a seed corpus")
    deps = deps + [Label("//tools:fuzz_check")]
    native.cc_binary(
        name = name,
        srcs = srcs,
        deps = deps,
        linkopts = ["-fsanitize=fuzzer"],
        tags = ["manual", "fuzzer"],
        testonly = True,
    )
    native.filegroup(
        name = name + "_corpus",
        srcs = corpus,
    )
    native.cc_test(
        name = name + "_corpus_test",
        size = "small",
        srcs = srcs + [Label("//tools:fuzz_replay_main.cc")],
        deps = deps,
        data = [":" + name + "_corpus"],
        args = ["$(locations :" + name + "_corpus)"],
    )
