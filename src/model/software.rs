//! Which software and version a target runs, as far as its pages tell: the version (from a
//! build-info family, or from Tempo's `/api/status/buildinfo`), Tempo's mode and its
//! [`Generation`], which decides the stage list.
//!
//! Input: the version string when one was read, and the [`Families`] a page showed (noted
//! by the page reader from the table [`TELLING`]). Output: [`Software`]. Pure: no page, no
//! I/O.

use serde::Serialize;

use crate::model::stage::Role;

/// The software behind a target, as far as its pages tell.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Software {
    pub version: Option<String>,
    pub mode: Option<&'static str>,
    #[serde(skip)]
    pub generation: Generation,
}

/// The Tempo architecture a target runs; it decides the stage list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Generation {
    /// Not known yet (no page read, or a page without version or telling families).
    #[default]
    Unknown,
    /// Tempo 2.x: distributor → ingesters → storage.
    TempoV2 { receiver_counters: bool },
    /// Tempo 3.x monolithic: distributor → live-store (in process) → storage.
    TempoV3Monolithic,
    /// Tempo 3.x microservices: distributor → Kafka → live-store/block-builder.
    TempoV3Microservices,
}

/// What a family name tells about the software.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tells {
    /// It is Tempo.
    Tempo,
    /// It is a Collector.
    Collector,
    /// This process runs a 2.x ingester, or a distributor that pushes to one.
    Ingester,
    /// This process runs a distributor.
    Distributor,
    /// This process runs a 3.x live-store.
    LiveStore,
    /// This distributor produces to Kafka (3.x microservices).
    KafkaProduce,
}

/// How a family name is matched.
#[derive(Debug, Clone, Copy)]
pub enum Name {
    Prefix(&'static str),
    Exact(&'static str),
}

/// The family names that tell which software runs and in which shape. A new version's
/// telling family is one row.
pub const TELLING: [(Role, Name, Tells); 9] = [
    (Role::Tempo, Name::Prefix("tempo"), Tells::Tempo),
    (
        Role::Tempo,
        Name::Prefix("tempo_ingester_"),
        Tells::Ingester,
    ),
    (
        Role::Tempo,
        Name::Prefix("tempo_distributor_ingester_"),
        Tells::Ingester,
    ),
    (
        Role::Tempo,
        Name::Prefix("tempo_distributor_"),
        Tells::Distributor,
    ),
    (
        Role::Tempo,
        Name::Prefix("tempo_receiver_"),
        Tells::Distributor,
    ),
    (
        Role::Tempo,
        Name::Prefix("tempo_live_store_"),
        Tells::LiveStore,
    ),
    (
        Role::Tempo,
        Name::Exact("tempo_distributor_produce_records_total"),
        Tells::KafkaProduce,
    ),
    (Role::Collector, Name::Prefix("otelcol_"), Tells::Collector),
    // Grafana Alloy as the collector: its own families beside the otelcol ones.
    (Role::Collector, Name::Prefix("alloy_"), Tells::Collector),
];

/// Which telling families a page has, noted while its family names are scanned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Families {
    pub tempo: bool,
    pub collector: bool,
    pub ingester: bool,
    pub distributor: bool,
    pub live_store: bool,
    pub kafka_produce: bool,
}

impl Families {
    /// Notes what `name` tells, per [`TELLING`].
    pub fn note(&mut self, role: Role, name: &str) {
        for (r, pattern, tells) in TELLING {
            let hit = match pattern {
                Name::Prefix(p) => name.starts_with(p),
                Name::Exact(e) => name == e,
            };
            if r == role && hit {
                match tells {
                    Tells::Tempo => self.tempo = true,
                    Tells::Collector => self.collector = true,
                    Tells::Ingester => self.ingester = true,
                    Tells::Distributor => self.distributor = true,
                    Tells::LiveStore => self.live_store = true,
                    Tells::KafkaProduce => self.kafka_produce = true,
                }
            }
        }
    }
}

/// `major.minor` of a version such as `v2.7.2` or `2.10.8`.
fn major_minor(version: Option<&str>) -> (Option<u32>, Option<u32>) {
    let Some(v) = version else {
        return (None, None);
    };
    let mut parts = v.trim_start_matches('v').split('.');
    let major = parts.next().and_then(|p| p.parse().ok());
    let minor = parts.next().and_then(|p| p.parse().ok());
    (major, minor)
}

impl Software {
    /// The software of a `role` target, from its version (when read) and the families its
    /// page showed. Only Tempo has a generation and a mode.
    pub fn detect(
        role: Role,
        version: Option<String>,
        families: &Families,
        receiver_counters: bool,
    ) -> Software {
        if role != Role::Tempo {
            return Software {
                version,
                mode: None,
                generation: Generation::Unknown,
            };
        }
        let (major, minor) = major_minor(version.as_deref());
        let v3 = match major {
            Some(m) => m >= 3,
            None => families.live_store && !families.ingester,
        };
        let generation = if v3 {
            if families.kafka_produce {
                Generation::TempoV3Microservices
            } else {
                Generation::TempoV3Monolithic
            }
        } else if major == Some(2) || families.ingester {
            // Tempo 2.4–2.5 lost the receiver counters (grafana/tempo#3758, back in 2.6).
            let lost = major == Some(2) && matches!(minor, Some(4 | 5));
            Generation::TempoV2 {
                receiver_counters: receiver_counters || !lost,
            }
        } else {
            Generation::Unknown
        };
        let mode = match generation {
            Generation::TempoV3Microservices => Some("microservices"),
            Generation::TempoV3Monolithic => Some("monolithic"),
            Generation::TempoV2 { .. } if families.ingester && families.distributor => {
                Some("monolithic")
            }
            Generation::TempoV2 { .. } => Some("microservices"),
            Generation::Unknown => None,
        };
        Software {
            version,
            mode,
            generation,
        }
    }
}
