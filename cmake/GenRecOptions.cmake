# Project options (prefixed) and the shared compile settings of every target.
string(COMPARE EQUAL "${CMAKE_SOURCE_DIR}" "${PROJECT_SOURCE_DIR}" GENREC_TOP_LEVEL)
option(GENREC_BUILD_TESTS "Build the Qt Test suite" ${GENREC_TOP_LEVEL})
option(GENREC_BUILD_TRAINER "Build the LibTorch engine (genrec)" ON)
option(GENREC_BUILD_STUDIO "Build the Qt studio (genrec-studio)" ON)
option(GENREC_ENABLE_ASAN "Build with AddressSanitizer" OFF)
option(GENREC_WARNINGS_AS_ERRORS "Treat warnings as errors" OFF)
option(GENREC_USE_JEMALLOC "Link the Torch executables with jemalloc when it is installed" ON)
if(GENREC_USE_JEMALLOC AND NOT GENREC_ENABLE_ASAN)
    find_library(GENREC_JEMALLOC_LIBRARY NAMES jemalloc)
endif()

# Warnings and sanitizers for our own targets (never for imported ones).
function(genrec_target_defaults target)
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
    if(GENREC_WARNINGS_AS_ERRORS)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
    if(GENREC_ENABLE_ASAN)
        target_compile_options(${target} PRIVATE -fsanitize=address -fno-omit-frame-pointer)
        target_link_options(${target} PRIVATE -fsanitize=address)
    endif()
endfunction()

# Qt targets: no bare keywords (they clash with Torch headers), no deprecated APIs past Qt 6.4.
function(genrec_qt_defaults target)
    genrec_target_defaults(${target})
    target_compile_definitions(${target} PRIVATE QT_NO_KEYWORDS QT_NO_CAST_FROM_ASCII
        QT_DISABLE_DEPRECATED_BEFORE=0x060400)
endfunction()

# Torch targets share one precompiled header (saves ~30 s per translation unit on 2 cores).
function(genrec_torch_defaults target)
    genrec_target_defaults(${target})
    if(TARGET genrec_torch_pch)
        target_precompile_headers(${target} REUSE_FROM genrec_torch_pch)
    endif()
endfunction()

# The memory allocator of the Torch executables: jemalloc when found (libjemalloc-dev), with the
# settings of training/runtime/malloc_conf.cpp. glibc's allocator either keeps freed activation
# buffers resident (dynamic mmap threshold) or, with a fixed threshold, pays a page fault per
# page of every large tensor (~30 % of a CPU training step); see README "Training memory".
function(genrec_link_allocator target)
    if(GENREC_JEMALLOC_LIBRARY)
        target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/training/runtime/malloc_conf.cpp)
        target_link_libraries(${target} PRIVATE ${GENREC_JEMALLOC_LIBRARY})
    endif()
endfunction()
