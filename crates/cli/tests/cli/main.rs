//! The `carelog` binary as people, scripts and other clinics meet it: every integration test of
//! the CLI, linked once, sharing one set of helpers (`common`).

mod common;

mod at_rest;
mod bedside;
mod contract;
mod crash;
mod devices;
mod hostile;
mod journey;
mod logs;
mod netem;
mod network;
mod recover;
mod service;
