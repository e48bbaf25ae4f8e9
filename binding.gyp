{
  "targets": [
    {
      "target_name": "pbx_media",
      "sources": [
        "native/addon.cc",
        "native/addon_hooks.cc",
        "native/engine.cc",
        "native/rtp.cc",
        "native/mixer.cc",
        "native/generator.cc",
        "native/writer.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-O3"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++1y", "-std=gnu++17", "-O3"],
      "cflags_cc": ["-std=c++17", "-O2", "-fvect-cost-model=dynamic", "-fexceptions", "-Wall", "-Wno-unused-parameter"],
      "cflags": ["-O2"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17"
      }
    }
  ]
}
