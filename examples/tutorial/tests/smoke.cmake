# cmake -DNOTES=<the notes binary> -DWORK_DIR=<an empty directory to create> -P smoke.cmake
# Runs the built service as a deployer would, in a fresh directory (its SQLite file is ./app.db there), and checks
# exit codes and output: --help, check before and after migrate, send-note, config check with a bad setting.
foreach(var NOTES WORK_DIR)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "smoke.cmake: ${var} is not set")
    endif()
endforeach()
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# run(<expected exit code> <regex the output must match> ARGS...): the output is stdout and stderr together.
function(run expected_code expected_output)
    execute_process(COMMAND "${NOTES}" ${ARGN} WORKING_DIRECTORY "${WORK_DIR}" RESULT_VARIABLE code
                    OUTPUT_VARIABLE out ERROR_VARIABLE out TIMEOUT 30)
    message(STATUS "notes ${ARGN}: exit ${code}\n${out}")
    if(NOT code STREQUAL expected_code)
        message(FATAL_ERROR "notes ${ARGN}: expected exit code ${expected_code}, got '${code}'")
    endif()
    if(NOT out MATCHES "${expected_output}")
        message(FATAL_ERROR "notes ${ARGN}: the output does not match '${expected_output}'")
    endif()
endfunction()

run(0 "consume.*migrate.*send-note" --help)
run(1 "database +ERROR.*no such table: notes" check)
run(0 "applied 1 migration\\(s\\)" migrate)
run(0 "database +OK.*0 notes.*all passed" check)
run(0 "sent to notes, partition 0, offset 0" send-note crm-1 "Call Ada" "about the invoice")
run(2 "usage: notes send-note REF TITLE TEXT" send-note crm-1)
run(0 "configuration ok" config check)
set(ENV{NOTES_MAX_LENGTH} ten)
run(1 "NOTES_MAX_LENGTH \\(from environment\\): 'ten' is not an integer" config check)
