# Sanitizers: applied to every target of this project when GALE_SANITIZE is set (e.g. "address,undefined").
if(GALE_SANITIZE)
    add_compile_options(-fsanitize=${GALE_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    add_link_options(-fsanitize=${GALE_SANITIZE})
endif()
