# Helpers shared by every layer's CMakeLists.txt.

# Warnings and sanitizer flags for one target (never global flags). Options structs are filled
# with designated initializers that leave the other fields at their defaults, which g++'s
# -Wmissing-field-initializers reports, so that one is off.
function(millrace_target_flags target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers>)
  if(MILLRACE_SANITIZE STREQUAL "address")
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined>)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  elseif(MILLRACE_SANITIZE STREQUAL "thread")
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=thread -g -Wno-tsan>)
    target_link_options(${target} PRIVATE -fsanitize=thread)
  endif()
endfunction()

# millrace_add_library(<layer> SOURCES ... DEPS ...): target millrace_<layer>, alias millrace::<layer>.
function(millrace_add_library layer)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(millrace_${layer} STATIC ${ARG_SOURCES})
  add_library(millrace::${layer} ALIAS millrace_${layer})
  target_include_directories(millrace_${layer} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}> $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/generated>)
  target_link_libraries(millrace_${layer} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  set_target_properties(millrace_${layer} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  millrace_target_flags(millrace_${layer})
endfunction()

# millrace_add_test(<name> SOURCES ... DEPS ... [LABELS ...] [TIMEOUT s]): one gtest binary,
# registered with ctest per test case (gtest_discover_tests).
include(GoogleTest)
function(millrace_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest_main GTest::gmock)
  millrace_target_flags(${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  gtest_discover_tests(${name}
    DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()

# millrace_add_benchmark(<name> SOURCES ... DEPS ...)
function(millrace_add_benchmark name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} benchmark::benchmark)
  millrace_target_flags(${name})
endfunction()
