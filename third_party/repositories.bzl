"""Everything a workspace needs to build Ziggy, for WORKSPACE files.

    local_repository(name = "ziggy", path = "/path/to/ziggy")
    load("@ziggy//third_party:repositories.bzl", "ziggy_dependencies")
    ziggy_dependencies()
"""

load("//third_party:shims.bzl", "rule_shims")
load("//third_party:system_libraries.bzl", "system_libraries")

def ziggy_dependencies():
    rule_shims()
    system_libraries(name = "ziggy_system")
