# eBPF programs (CO-RE): compiled with clang -target bpf at build time, skeletons made by bpftool.
# Nothing generated is committed.
#
#   fs_add_bpf_skeleton(<name> SRC <file.bpf.c> [HEADERS h ...])
#
# builds ${CMAKE_CURRENT_BINARY_DIR}/<name>.bpf.o and <name>.skel.h and an INTERFACE target
# fs_bpf_<name> whose include directory holds the skeleton (#include "<name>.skel.h").
# vmlinux.h is dumped once per build tree from the running kernel's BTF (FS_VMLINUX_BTF).

find_program(FS_BPF_CLANG NAMES clang-14 clang REQUIRED)
find_program(FS_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)
set(FS_VMLINUX_BTF /sys/kernel/btf/vmlinux CACHE FILEPATH "kernel BTF used to generate vmlinux.h")
pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET libbpf)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(FS_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(FS_BPF_ARCH arm64)
else()
  set(FS_BPF_ARCH ${CMAKE_SYSTEM_PROCESSOR})
endif()

set(FS_BPF_GEN_DIR ${PROJECT_BINARY_DIR}/bpf_gen)
add_custom_command(
  OUTPUT ${FS_BPF_GEN_DIR}/vmlinux.h
  COMMAND ${CMAKE_COMMAND} -E make_directory ${FS_BPF_GEN_DIR}
  COMMAND ${FS_BPFTOOL} btf dump file ${FS_VMLINUX_BTF} format c > ${FS_BPF_GEN_DIR}/vmlinux.h
  COMMENT "bpftool: vmlinux.h from ${FS_VMLINUX_BTF}"
  VERBATIM)
add_custom_target(fs_bpf_vmlinux DEPENDS ${FS_BPF_GEN_DIR}/vmlinux.h)

function(fs_add_bpf_skeleton name)
  cmake_parse_arguments(A "" "SRC" "HEADERS" ${ARGN})
  set(src ${CMAKE_CURRENT_SOURCE_DIR}/${A_SRC})
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel ${CMAKE_CURRENT_BINARY_DIR}/${name}.skel.h)
  set(headers)
  foreach(h ${A_HEADERS})
    list(APPEND headers ${CMAKE_CURRENT_SOURCE_DIR}/${h})
  endforeach()
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${FS_BPF_CLANG} -target bpf -D__TARGET_ARCH_${FS_BPF_ARCH} -g -O2 -Wall -Werror
            -I${FS_BPF_GEN_DIR} -I${CMAKE_CURRENT_SOURCE_DIR} -I${PROJECT_SOURCE_DIR}
            -c ${src} -o ${obj}
    DEPENDS ${src} ${headers} ${FS_BPF_GEN_DIR}/vmlinux.h
    COMMENT "clang -target bpf: ${A_SRC}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${FS_BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "bpftool gen skeleton: ${name}"
    VERBATIM)
  add_custom_target(fs_bpf_${name}_gen DEPENDS ${skel})
  add_library(fs_bpf_${name} INTERFACE)
  add_dependencies(fs_bpf_${name} fs_bpf_${name}_gen)
  target_include_directories(fs_bpf_${name} INTERFACE ${CMAKE_CURRENT_BINARY_DIR})
  target_link_libraries(fs_bpf_${name} INTERFACE PkgConfig::LIBBPF)
endfunction()
