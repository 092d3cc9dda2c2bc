//! The official SDKs' regions file (`~/.huaweicloud/regions.yaml`): per service, a list of
//! regions with one `endpoint` or several `endpoints`. Service keys are matched without case
//! (`CodeArtsRepo`, `ServiceStage`); other services in the file are left alone.
//!
//! ```yaml
//! CodeArtsRepo:
//!   - id: cn-north-4
//!     endpoint: https://codehub-ext.cn-north-4.myhuaweicloud.com
//! ServiceStage:
//!   - id: xx-private-1
//!     endpoints: [https://stage-a.example.com, https://stage-b.example.com]
//! ```

use std::{collections::HashMap, path::Path};

use serde::Deserialize;

use super::Service;
use crate::{ConfigKind, Error};

/// A parsed regions file.
#[derive(Clone, Debug, Default)]
pub(crate) struct RegionsFile {
    /// (lowercased service key, region) to endpoints.
    endpoints: HashMap<(String, String), Vec<String>>,
}

#[derive(Deserialize)]
struct Entry {
    id: String,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    endpoints: Vec<String>,
}

impl RegionsFile {
    /// Reads and checks the file; an error names the file, and the line where the parser
    /// gives one.
    pub(crate) fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(
                ConfigKind::RegionsFile,
                format!("cannot read the regions file {}: {e}", path.display()),
            )
        })?;
        Self::parse(&text).map_err(|why| {
            Error::config(
                ConfigKind::RegionsFile,
                format!("regions file {}: {why}", path.display()),
            )
        })
    }

    fn parse(text: &str) -> Result<Self, String> {
        let services: Option<HashMap<String, Vec<Entry>>> =
            serde_norway::from_str(text).map_err(|e| e.to_string())?;
        let mut endpoints = HashMap::new();
        for (service, entries) in services.unwrap_or_default() {
            for entry in entries {
                let mut urls: Vec<String> = entry.endpoint.into_iter().collect();
                urls.extend(entry.endpoints);
                urls.retain(|url| !url.trim().is_empty());
                if urls.is_empty() {
                    return Err(format!(
                        "{service} region `{}` has neither `endpoint` nor `endpoints`",
                        entry.id
                    ));
                }
                endpoints.insert((service.to_ascii_lowercase(), entry.id), urls);
            }
        }
        Ok(Self { endpoints })
    }

    /// The endpoints the file gives `service` in `region`, if any.
    pub(crate) fn endpoints(&self, service: Service, region: &str) -> Option<&[String]> {
        self.endpoints
            .get(&(service.sdk_name().to_ascii_lowercase(), region.to_owned()))
            .map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_endpoint_or_several_keys_without_case() {
        let file = RegionsFile::parse(
            "codeartsrepo:\n  - id: r1\n    endpoint: https://a\nSERVICESTAGE:\n  - id: r1\n    endpoints: [https://b, https://c]\nECS:\n  - id: r1\n    endpoint: https://ecs\n",
        )
        .unwrap();
        assert_eq!(
            file.endpoints(Service::CodeArtsRepo, "r1").unwrap(),
            ["https://a"]
        );
        assert_eq!(
            file.endpoints(Service::ServiceStage, "r1").unwrap(),
            ["https://b", "https://c"]
        );
        assert!(file.endpoints(Service::ServiceStage, "r2").is_none());
        assert!(RegionsFile::parse("").unwrap().endpoints.is_empty());
    }

    #[test]
    fn malformed_files_say_where() {
        let error =
            RegionsFile::parse("CodeArtsRepo:\n  - id: r1\n    endpoint: [unclosed\n").unwrap_err();
        assert!(error.contains("line"), "{error}");
        let error = RegionsFile::parse("CodeArtsRepo:\n  - id: r1\n").unwrap_err();
        assert!(
            error.contains("r1") && error.contains("endpoint"),
            "{error}"
        );
        let error = RegionsFile::parse("CodeArtsRepo: 3\n").unwrap_err();
        assert!(error.contains("line"), "{error}");
    }
}
