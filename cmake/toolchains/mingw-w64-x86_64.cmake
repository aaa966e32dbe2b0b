# Cross-compiles for 64-bit Windows with Debian's mingw-w64 (posix threads
# variant) and runs the results under Wine, headless: ctest and GoogleTest's
# test discovery go through cmake/wine-run.sh, which keeps a private
# WINEPREFIX inside the build folder.
#
# With the mingw gRPC SDK (gRPC, protobuf, Abseil, OpenSSL, SQLite built for
# x86_64-w64-mingw32; docs/windows.md) the whole server and the command-line
# tool build too. It is looked for in MFWQ_MINGW_SDK (a cache variable or the
# environment), else in ../shared/mingw-sdk/prefix beside the source tree.
# Without it only the engine and the server's transport-free core build.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(MINGW_TRIPLE x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${MINGW_TRIPLE}-gcc-posix)
set(CMAKE_CXX_COMPILER ${MINGW_TRIPLE}-g++-posix)
set(CMAKE_RC_COMPILER ${MINGW_TRIPLE}-windres)

if(NOT MFWQ_MINGW_SDK AND DEFINED ENV{MFWQ_MINGW_SDK})
  set(MFWQ_MINGW_SDK "$ENV{MFWQ_MINGW_SDK}")
endif()
if(NOT MFWQ_MINGW_SDK)
  get_filename_component(_mfwq_sdk_guess "${CMAKE_CURRENT_LIST_DIR}/../../../shared/mingw-sdk/prefix"
                         ABSOLUTE)
  if(EXISTS "${_mfwq_sdk_guess}/toolchain.cmake")
    set(MFWQ_MINGW_SDK "${_mfwq_sdk_guess}")
  endif()
endif()
# Try-compiles run this file again: hand them the same answer.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES MFWQ_MINGW_SDK)

set(CMAKE_FIND_ROOT_PATH /usr/${MINGW_TRIPLE})
if(MFWQ_MINGW_SDK)
  set(MFWQ_MINGW_SDK "${MFWQ_MINGW_SDK}" CACHE PATH "The mingw gRPC SDK's prefix" FORCE)
  list(PREPEND CMAKE_FIND_ROOT_PATH "${MFWQ_MINGW_SDK}")
  list(APPEND CMAKE_PREFIX_PATH "${MFWQ_MINGW_SDK}")
  set(OPENSSL_USE_STATIC_LIBS TRUE)
  set(OPENSSL_ROOT_DIR "${MFWQ_MINGW_SDK}")
  set(ZLIB_USE_STATIC_LIBS ON)
endif()
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Static runtime: the .exe needs no mingw DLLs beside it under Wine.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static -static-libgcc -static-libstdc++")

set(CMAKE_CROSSCOMPILING_EMULATOR ${CMAKE_CURRENT_LIST_DIR}/../wine-run.sh)
