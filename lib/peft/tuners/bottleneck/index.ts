export { AdapterConfig, ADAPTER_TYPES, NON_LINEARITIES } from './config';
export type { AdapterConfigFields, AdapterNonLinearity, AdapterType } from './config';
export { ResidualAdapterLayer, bottleneckProjections } from './layer';
export type { Projection } from './layer';
export { adapterSites, siteKind } from './placement';
export type { AdapterSite, SiteKind } from './placement';
import './tuner';
