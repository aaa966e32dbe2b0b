# MFWQ_ALLOCATOR: the malloc of the programs (mfwq-server, mfwq), not of
# the libraries, which leave that to whoever links them.
#
# Their threads allocate and free small records in bursts (a batch of
# requests, a batch of completions, retention freeing the oldest), which
# glibc's malloc does poorly: with jemalloc, the server spends about a
# third less CPU per operation (docs/bench.md). The sanitizers bring their
# own malloc, so they get the system's.
if(WIN32 OR MFWQ_SANITIZE)
  set(_mfwq_allocator system)
else()
  set(_mfwq_allocator jemalloc)
endif()
set(MFWQ_ALLOCATOR ${_mfwq_allocator} CACHE STRING "The programs' malloc: jemalloc or system")
set_property(CACHE MFWQ_ALLOCATOR PROPERTY STRINGS jemalloc system)

if(MFWQ_ALLOCATOR STREQUAL "jemalloc")
  find_library(MFWQ_JEMALLOC_LIBRARY NAMES jemalloc)
  if(NOT MFWQ_JEMALLOC_LIBRARY)
    message(FATAL_ERROR "MFWQ_ALLOCATOR=jemalloc, but there is no libjemalloc: install "
                        "libjemalloc-dev (scripts/setup.sh does), or configure with "
                        "-DMFWQ_ALLOCATOR=system")
  endif()
elseif(NOT MFWQ_ALLOCATOR STREQUAL "system")
  message(FATAL_ERROR "MFWQ_ALLOCATOR: \"${MFWQ_ALLOCATOR}\" is neither jemalloc nor system")
endif()

function(mfwq_use_allocator target)
  if(MFWQ_ALLOCATOR STREQUAL "jemalloc")
    target_link_libraries(${target} PRIVATE ${MFWQ_JEMALLOC_LIBRARY})
  endif()
endfunction()
