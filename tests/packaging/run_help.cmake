# cmake -DEXE=<consumer binary> -P run_help.cmake
# Runs `EXE --help` and expects exit 0 and the sub-command list. (It can't be passed straight to
# `ctest --build-and-test --test-command`: ctest takes any --help/-h on its command line as a request for its own
# usage text, and then reports success without running anything.)
if(NOT DEFINED EXE)
    message(FATAL_ERROR "run_help.cmake: EXE is not set")
endif()
execute_process(COMMAND "${EXE}" --help RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 30)
message(STATUS "${EXE} --help exited with ${rc}:\n${out}${err}")
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${EXE} --help: expected exit code 0, got '${rc}'")
endif()
if(NOT out MATCHES "serve" OR NOT out MATCHES "check")
    message(FATAL_ERROR "${EXE} --help: the output does not list the serve and check sub-commands")
endif()
# This consumer declares no log-pipe consumers, so `consume` is not offered. (Matched as a sub-command line of the
# list, "  consume  …": the packaging consumers are themselves called "consumer".)
if(out MATCHES "\n  consume ")
    message(FATAL_ERROR "${EXE} --help: lists the consume sub-command of a service without consumers")
endif()
