# _gale_add_library(<name> <export-set> SOURCES … HEADERS … [DEPS …] [PRIVATE_DEPS …])
# STATIC gale_<name> (alias gale::<name>, exported as <name> in <export-set>), recorded as a package component
# (GalePackage.cmake derives each component's dependencies from its links).
function(_gale_add_library name export_set)
    cmake_parse_arguments(ARG "" "" "SOURCES;HEADERS;DEPS;PRIVATE_DEPS" ${ARGN})
    set(target gale_${name})
    add_library(${target} STATIC ${ARG_SOURCES})
    add_library(gale::${name} ALIAS ${target})
    set_target_properties(${target} PROPERTIES EXPORT_NAME ${name} POSITION_INDEPENDENT_CODE ON)
    target_compile_features(${target} PUBLIC cxx_std_20)
    target_sources(${target} PUBLIC FILE_SET HEADERS BASE_DIRS include FILES ${ARG_HEADERS})
    target_include_directories(${target} PRIVATE src)
    target_link_libraries(${target} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS} $<BUILD_INTERFACE:gale_warnings>)
    if(GALE_INSTALL)
        install(TARGETS ${target} EXPORT ${export_set} FILE_SET HEADERS ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
    endif()
    set_property(GLOBAL APPEND PROPERTY GALE_COMPONENTS ${name})
    set_property(GLOBAL PROPERTY GALE_COMPONENT_EXPORT_${name} ${export_set})
endfunction()

# gale_add_module(<mod> SOURCES … HEADERS … [DEPS …] [PRIVATE_DEPS …] [TESTS …] [TEST_DEPS …])
# Creates STATIC gale_<mod> (alias gale::<mod>, exported as <mod> in gale-targets) and, with tests on,
# gale-<mod>-unittest.
function(gale_add_module name)
    cmake_parse_arguments(ARG "" "" "SOURCES;HEADERS;DEPS;PRIVATE_DEPS;TESTS;TEST_DEPS;BENCHMARKS" ${ARGN})
    set(target gale_${name})
    _gale_add_library(${name} gale-targets SOURCES ${ARG_SOURCES} HEADERS ${ARG_HEADERS} DEPS ${ARG_DEPS}
        PRIVATE_DEPS ${ARG_PRIVATE_DEPS})
    # testing/: fakes and helpers for this module's users' tests (gale::<mod>_testing).
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/testing/include)
        add_library(gale_${name}_testing INTERFACE)
        add_library(gale::${name}_testing ALIAS gale_${name}_testing)
        target_include_directories(gale_${name}_testing INTERFACE
            $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/testing/include>)
        target_link_libraries(gale_${name}_testing INTERFACE ${target})
    endif()
    if(GALE_BUILD_TESTS AND ARG_TESTS)
        set(test gale-${name}-unittest)
        add_executable(${test} ${ARG_TESTS})
        target_include_directories(${test} PRIVATE src)
        target_link_libraries(${test} PRIVATE ${target} ${ARG_PRIVATE_DEPS} ${ARG_TEST_DEPS} GTest::gtest GTest::gmock
            GTest::gtest_main gale_warnings)
        if(TARGET gale_${name}_testing)
            target_link_libraries(${test} PRIVATE gale_${name}_testing)
        endif()
        gtest_discover_tests(${test} DISCOVERY_TIMEOUT 30 PROPERTIES LABELS unit TIMEOUT 120)
    endif()
    if(GALE_BUILD_BENCHMARKS AND ARG_BENCHMARKS)
        set(bench gale-${name}-benchmark)
        add_executable(${bench} ${ARG_BENCHMARKS})
        target_include_directories(${bench} PRIVATE src)
        target_link_libraries(${bench} PRIVATE ${target} ${ARG_PRIVATE_DEPS} benchmark::benchmark gale_warnings)
        if(GALE_BUILD_TESTS)
            add_test(NAME ${bench}-smoke COMMAND ${bench} --benchmark_min_time=0.01)
            set_tests_properties(${bench}-smoke PROPERTIES LABELS benchmark-smoke TIMEOUT 120)
        endif()
    endif()
endfunction()

# gale_add_adapter(<name> SOURCES … HEADERS … [DEPS …] [PRIVATE_DEPS …])
# An optional engine adapter of a module (kafka, kinesis: STYLE.md), in the module's directory: STATIC gale_<name>
# (alias gale::<name>) in its own export set gale-<name>-targets and its own package component, so that
# `find_package(gale COMPONENTS app)` neither loads it nor looks for its client library. Its tests belong to the
# module's unittest (TEST_DEPS gale::<name>).
function(gale_add_adapter name)
    cmake_parse_arguments(ARG "" "" "SOURCES;HEADERS;DEPS;PRIVATE_DEPS" ${ARGN})
    _gale_add_library(${name} gale-${name}-targets SOURCES ${ARG_SOURCES} HEADERS ${ARG_HEADERS} DEPS ${ARG_DEPS}
        PRIVATE_DEPS ${ARG_PRIVATE_DEPS})
endfunction()

# gale_add_fuzzer(<mod> <name> CORPUS <dir>): libFuzzer target under clang with GALE_LIBFUZZER, otherwise a
# replay binary that runs every corpus file through the same entry point, registered as a ctest.
function(gale_add_fuzzer mod name)
    cmake_parse_arguments(ARG "" "CORPUS" "" ${ARGN})
    if(NOT GALE_BUILD_FUZZERS)
        return()
    endif()
    set(target gale-${mod}-${name}-fuzz)
    add_executable(${target} fuzz/${name}_fuzz.cpp)
    target_link_libraries(${target} PRIVATE gale::${mod} gale_warnings)
    target_include_directories(${target} PRIVATE src)
    if(GALE_LIBFUZZER)
        target_compile_options(${target} PRIVATE -fsanitize=fuzzer,address,undefined)
        target_link_options(${target} PRIVATE -fsanitize=fuzzer,address,undefined)
    else()
        target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tools/fuzz_replay_main.cpp)
        if(GALE_BUILD_TESTS)
            add_test(NAME ${target}-replay COMMAND ${target} ${CMAKE_CURRENT_SOURCE_DIR}/${ARG_CORPUS})
            set_tests_properties(${target}-replay PROPERTIES LABELS fuzz-replay TIMEOUT 300)
        endif()
    endif()
endfunction()
