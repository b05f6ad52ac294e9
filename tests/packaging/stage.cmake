# cmake -DBUILD_DIR=<gale build tree> -DSTAGE=<prefix> [-DLIBDIR=lib] -P stage.cmake
# Installs the build tree into a freshly emptied staging prefix, so a file the install forgets cannot be found in
# a stale copy left by an earlier run.
foreach(var BUILD_DIR STAGE)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "stage.cmake: ${var} is not set")
    endif()
endforeach()
file(REMOVE_RECURSE "${STAGE}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${STAGE}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cmake --install ${BUILD_DIR} --prefix ${STAGE} failed: ${rc}")
endif()
if(NOT DEFINED LIBDIR)
    set(LIBDIR lib)
endif()
foreach(f ${LIBDIR}/cmake/gale/gale-config.cmake ${LIBDIR}/cmake/gale/gale-config-version.cmake
          ${LIBDIR}/cmake/gale/gale-targets.cmake
          include/gale/app/app.hpp)
    if(NOT EXISTS "${STAGE}/${f}")
        message(FATAL_ERROR "stage.cmake: the install has no ${f}")
    endif()
endforeach()
