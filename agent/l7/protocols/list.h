// The L7 protocols, one line each: FS_L7_PROTOCOL(<folder name>). The order is the inference
// order when no port hint decides. CMake reads this file too: each listed folder is built.
// (No include guard: included several times with different FS_L7_PROTOCOL definitions.)
FS_L7_PROTOCOL(http)
FS_L7_PROTOCOL(http2)
FS_L7_PROTOCOL(redis)
FS_L7_PROTOCOL(dns)
FS_L7_PROTOCOL(mysql)
FS_L7_PROTOCOL(postgresql)
FS_L7_PROTOCOL(memcached)
FS_L7_PROTOCOL(tls)
FS_L7_PROTOCOL(kafka)
FS_L7_PROTOCOL(mqtt)
