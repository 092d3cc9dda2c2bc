//! The official SDKs' region tables for both services.

// The official SDKs' region tables (huaweicloudsdkcodeartsrepo and huaweicloudsdkservicestage
// 3.1.219), sorted by region for binary search. tests/endpoint.rs checks them against
// tests/fixtures/regions.json.
pub(super) const CODEARTS_REPO: &[(&str, &str)] = &[
    ("af-north-1", "https://repo.af-north-1.myhuaweicloud.com"),
    ("af-south-1", "https://repo.af-south-1.myhuaweicloud.com"),
    (
        "ap-southeast-3",
        "https://codehub-ext.ap-southeast-3.myhuaweicloud.com",
    ),
    (
        "cn-east-2",
        "https://codehub-ext.cn-east-2.myhuaweicloud.com",
    ),
    (
        "cn-east-3",
        "https://codehub-ext.cn-east-3.myhuaweicloud.com",
    ),
    (
        "cn-north-1",
        "https://codehub-ext.cn-north-1.myhuaweicloud.com",
    ),
    (
        "cn-north-4",
        "https://codehub-ext.cn-north-4.myhuaweicloud.com",
    ),
    (
        "cn-south-1",
        "https://codehub-ext.cn-south-1.myhuaweicloud.com",
    ),
    (
        "cn-south-2",
        "https://codehub-ext.cn-south-2.myhuaweicloud.com",
    ),
    (
        "cn-southwest-2",
        "https://codehub-ext.cn-southwest-2.myhuaweicloud.com",
    ),
    (
        "eu-west-101",
        "https://codeartsrepo-ext.eu-west-101.myhuaweicloud.com",
    ),
    (
        "la-north-2",
        "https://codehub-ext.la-north-2.myhuaweicloud.com",
    ),
    (
        "la-south-2",
        "https://codeartsrepo-ext.la-south-2.myhuaweicloud.com",
    ),
    ("me-east-1", "https://repo.me-east-1.myhuaweicloud.com"),
    (
        "sa-brazil-1",
        "https://codehub-ext.sa-brazil-1.myhuaweicloud.com",
    ),
    (
        "tr-west-1",
        "https://codeartsrepo-ext.tr-west-1.myhuaweicloud.com",
    ),
];

pub(super) const SERVICESTAGE: &[(&str, &str)] = &[
    (
        "af-south-1",
        "https://servicestage.af-south-1.myhuaweicloud.com",
    ),
    (
        "ap-southeast-1",
        "https://servicestage.ap-southeast-1.myhuaweicloud.com",
    ),
    (
        "ap-southeast-2",
        "https://servicestage.ap-southeast-2.myhuaweicloud.com",
    ),
    (
        "ap-southeast-3",
        "https://servicestage.ap-southeast-3.myhuaweicloud.com",
    ),
    (
        "ap-southeast-4",
        "https://servicestage.ap-southeast-4.myhuaweicloud.com",
    ),
    (
        "cn-east-2",
        "https://servicestage.cn-east-2.myhuaweicloud.com",
    ),
    (
        "cn-east-3",
        "https://servicestage.cn-east-3.myhuaweicloud.com",
    ),
    (
        "cn-east-4",
        "https://servicestage.cn-east-4.myhuaweicloud.com",
    ),
    (
        "cn-north-1",
        "https://servicestage.cn-north-1.myhuaweicloud.com",
    ),
    (
        "cn-north-12",
        "https://servicestage.cn-north-12.myhuaweicloud.com",
    ),
    (
        "cn-north-4",
        "https://servicestage.cn-north-4.myhuaweicloud.com",
    ),
    (
        "cn-north-9",
        "https://servicestage.cn-north-9.myhuaweicloud.com",
    ),
    (
        "cn-south-1",
        "https://servicestage.cn-south-1.myhuaweicloud.com",
    ),
    (
        "cn-south-4",
        "https://servicestage.cn-south-4.myhuaweicloud.com",
    ),
    (
        "cn-southwest-2",
        "https://servicestage.cn-southwest-2.myhuaweicloud.com",
    ),
    (
        "la-north-2",
        "https://servicestage.la-north-2.myhuaweicloud.com",
    ),
    (
        "la-south-2",
        "https://servicestage.la-south-2.myhuaweicloud.com",
    ),
    (
        "me-east-1",
        "https://servicestage.me-east-1.myhuaweicloud.com",
    ),
    (
        "my-kualalumpur-1",
        "https://servicestage.my-kualalumpur-1.myhuaweicloud.com",
    ),
    (
        "ru-moscow-1",
        "https://servicestage.ru-moscow-1.myhuaweicloud.com",
    ),
    (
        "sa-brazil-1",
        "https://servicestage.sa-brazil-1.myhuaweicloud.com",
    ),
    (
        "tr-west-1",
        "https://servicestage.tr-west-1.myhuaweicloud.com",
    ),
];

/// STS per region, from the official core (huaweicloudsdkcore 3.1.219, auth/endpoint.py): where
/// OIDC federation asks for keys.
const STS: &[&str] = &[
    "cn-north-4",
    "cn-south-1",
    "cn-east-3",
    "cn-southwest-2",
    "ap-southeast-1",
    "ap-southeast-3",
    "ap-southeast-2",
    "sa-brazil-1",
    "la-south-2",
    "af-south-1",
    "ap-southeast-4",
    "tr-west-1",
];

/// The region's STS endpoint, when the official table has one.
pub(crate) fn sts_endpoint(region: &str) -> Option<String> {
    STS.contains(&region)
        .then(|| format!("https://sts.{region}.myhuaweicloud.com"))
}
