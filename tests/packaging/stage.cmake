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
          ${LIBDIR}/cmake/gale/gale-targets.cmake ${LIBDIR}/cmake/gale/gale-components.cmake
          ${LIBDIR}/cmake/gale/gale-kafka-targets.cmake ${LIBDIR}/cmake/gale/gale-kinesis-targets.cmake
          include/gale/app/app.hpp include/gale/pipe/kafka.hpp include/gale/pipe/kinesis.hpp)
    if(NOT EXISTS "${STAGE}/${f}")
        message(FATAL_ERROR "stage.cmake: the install has no ${f}")
    endif()
endforeach()
# The engine adapters are components of their own: the modules' export set must not pull them (or librdkafka) in.
file(READ "${STAGE}/${LIBDIR}/cmake/gale/gale-targets.cmake" modules_targets)
foreach(adapter_reference "gale::kafka" "gale::kinesis" "RDKAFKA" "rdkafka")
    string(FIND "${modules_targets}" "${adapter_reference}" at)
    if(NOT at EQUAL -1)
        message(FATAL_ERROR "stage.cmake: gale-targets.cmake mentions ${adapter_reference}: the modules must not "
                            "depend on an engine adapter")
    endif()
endforeach()
