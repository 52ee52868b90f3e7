# Installation of the desktop integration files and CPack's Debian package (`cpack -G DEB` in the
# build folder). Package dependencies are Debian 12 package names; shlibdeps refines them from the
# installed binaries when dpkg-shlibdeps is available.

if(GENREC_BUILD_STUDIO)
    install(FILES ${PROJECT_SOURCE_DIR}/packaging/genrec-studio.desktop DESTINATION share/applications)
    install(FILES ${PROJECT_SOURCE_DIR}/packaging/genrec-studio.metainfo.xml DESTINATION share/metainfo)
    install(FILES ${PROJECT_SOURCE_DIR}/resources/icons/genrec-studio.svg
            DESTINATION share/icons/hicolor/scalable/apps)
endif()
install(FILES ${PROJECT_SOURCE_DIR}/resources/configs/demo.yaml DESTINATION share/genrec/configs)

set(CPACK_PACKAGE_NAME "genrec-studio")
set(CPACK_PACKAGE_VENDOR "GenRec Studio")
set(CPACK_PACKAGE_CONTACT "GenRec Studio maintainers <genrec-studio@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_INSTALL_DIRECTORY "genrec-studio")
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR "DEB")

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "science")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Training studio for generative recommendation\n The genrec engine trains MiniOneRec-style generative recommenders (semantic IDs,\n SFT, GRPO) and genrec-studio is its Qt desktop front end: generated run forms,\n live charts from an SQLite run store, run history and comparison.")
set(GENREC_DEB_DEPENDS
    "libc6"
    "libstdc++6"
    "libsqlite3-0"
    "libyaml-cpp0.7"
    "libspdlog1.10"
    "libfmt9"
    "libpcre2-8-0"
    "libutf8proc2")
if(GENREC_BUILD_STUDIO)
    list(APPEND GENREC_DEB_DEPENDS
        "libqt6core6 (>= 6.4)"
        "libqt6gui6 (>= 6.4)"
        "libqt6widgets6 (>= 6.4)"
        "libqt6printsupport6 (>= 6.4)"
        "libqt6svg6"
        "qt6-qpa-plugins"
        "libqcustomplot2.1-qt6")
endif()
if(GENREC_BUILD_TRAINER)
    list(APPEND GENREC_DEB_DEPENDS "libtorch1.13" "libopenblas0")
endif()
list(JOIN GENREC_DEB_DEPENDS ", " CPACK_DEBIAN_PACKAGE_DEPENDS)
find_program(GENREC_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(GENREC_DPKG_SHLIBDEPS)
    set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
endif()

include(CPack)
