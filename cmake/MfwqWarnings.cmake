# mfwq_set_warnings(<target>): the project's own code builds warning-free with
# these, as errors (MFWQ_WERROR, on by default). Generated code (protobuf,
# gRPC) lives in its own targets that do not call this.
option(MFWQ_WERROR "Treat warnings in mfwq's own code as errors" ON)

function(mfwq_set_warnings target)
  if(MSVC)
    target_compile_options(${target} PRIVATE /W4 $<$<BOOL:${MFWQ_WERROR}>:/WX>)
  else()
    target_compile_options(${target} PRIVATE
      -Wall -Wextra -Wpedantic -Wshadow -Wcast-qual -Wformat=2 -Wundef
      -Wmissing-declarations -Wimplicit-fallthrough -Wold-style-cast
      $<$<CXX_COMPILER_ID:Clang>:-Wthread-safety>
      $<$<BOOL:${MFWQ_WERROR}>:-Werror>)
  endif()
endfunction()
