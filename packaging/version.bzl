"""The package version, read from the repository's VERSION file.

A Bazel output's name must be known before any action runs, and the .deb's
name carries the version; so a repository rule reads //:VERSION (re-read
whenever that file changes) and exposes it as a constant:

    load("@ziggy_version//:version.bzl", "VERSION")
"""

def _ziggy_version_impl(repository_ctx):
    version = repository_ctx.read(repository_ctx.path(Label("//:VERSION"))).strip()
    if not version or " " in version or "_" in version:
        fail("VERSION must hold one Debian version, got %r" % version)
    repository_ctx.file("BUILD", "exports_files([\"version.bzl\"])\n")
    repository_ctx.file("version.bzl", "VERSION = %r\n" % version)

ziggy_version = repository_rule(implementation = _ziggy_version_impl)
