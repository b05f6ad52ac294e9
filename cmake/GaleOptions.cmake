# Build options; the defaults depend on whether gale is the top-level project.
option(GALE_BUILD_TESTS "Build gale's unit and integration tests" ${PROJECT_IS_TOP_LEVEL})
option(GALE_BUILD_BENCHMARKS "Build gale's micro-benchmarks" ${PROJECT_IS_TOP_LEVEL})
option(GALE_BUILD_FUZZERS "Build the fuzz targets (libFuzzer under clang, corpus replay under g++)" ${PROJECT_IS_TOP_LEVEL})
option(GALE_BUILD_EXAMPLES "Build the example services" ${PROJECT_IS_TOP_LEVEL})
option(GALE_INSTALL "Generate the install target" ${PROJECT_IS_TOP_LEVEL})
option(GALE_WERROR "Treat warnings as errors" OFF)
set(GALE_SANITIZE "" CACHE STRING "Sanitizers to enable, e.g. address,undefined")
option(GALE_LIBFUZZER "Link fuzz targets with -fsanitize=fuzzer (clang only)" OFF)
# Engine adapters (each its own library and package component: gale::kafka, gale::kinesis).
option(GALE_WITH_KAFKA "Build the Kafka adapter gale::kafka (needs librdkafka)" ON)
option(GALE_WITH_KINESIS "Build the Kinesis adapter gale::kinesis" ON)
# gale-wsgi and gale::wsgi: Python WSGI apps under gale's server (needs libpython3.11-dev).
option(GALE_WITH_WSGI "Build gale-wsgi, the WSGI (Django, Flask) host" ON)
