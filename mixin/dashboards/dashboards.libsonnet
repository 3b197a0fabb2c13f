(import 'health.libsonnet') + (import 'collections.libsonnet')
