# MFWQ_SANITIZE: a list of sanitizers for every target, e.g. "address;undefined".
set(MFWQ_SANITIZE "" CACHE STRING "Sanitizers to build with (address, undefined, thread)")

if(MFWQ_SANITIZE)
  list(JOIN MFWQ_SANITIZE "," _mfwq_sanitizers)
  add_compile_options(-fsanitize=${_mfwq_sanitizers} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_mfwq_sanitizers})
endif()

# The fuzz preset: coverage for libFuzzer in every target (the fuzzers
# themselves link libFuzzer: fuzz/CMakeLists.txt).
if(MFWQ_BUILD_FUZZERS)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
