{
  # Built by `node-gyp rebuild`, which npm runs for the root package on
  # install because this file exists. `.npmrc` sets nodedir=/usr, so the
  # headers come from the system Node and nothing is downloaded.
  'targets': [
    {
      'target_name': 'safebak_native',
      'sources': ['src/native/safebak_native.cc', 'src/native/batch_io.cc', 'src/native/tar_entry.cc'],
      'include_dirs': ["<!(node -p \"require('node-addon-api').include_dir\")"],
      'defines': [
        'NAPI_VERSION=8',
        'NAPI_CPP_EXCEPTIONS',
        'NODE_ADDON_API_DISABLE_DEPRECATED',
        '_GNU_SOURCE',
      ],
      'cflags+': ['-fvisibility=hidden', '-Wall', '-Wextra'],
      'cflags!': ['-fno-exceptions'],
      'cflags_cc!': ['-fno-exceptions'],
      'cflags_cc+': ['-std=c++17'],
    },
  ],
}
