# Warnings live on an INTERFACE target linked PRIVATE, so they never reach consumers.
add_library(gale_warnings INTERFACE)
target_compile_options(gale_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast)
if(GALE_WERROR)
    target_compile_options(gale_warnings INTERFACE -Werror)
endif()
install(TARGETS gale_warnings EXPORT gale-targets)  # referenced by the build-tree export; empty once installed
