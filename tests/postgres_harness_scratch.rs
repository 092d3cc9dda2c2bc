mod common;

use common::postgres::Cluster;
use std::time::Instant;

#[test]
fn plain_cluster_lifecycle() {
    let t = Instant::now();
    let cluster = Cluster::start();
    eprintln!("start took {:?}, url {}", t.elapsed(), cluster.url("postgres"));
    let url = cluster.create_database("scratch_db");
    assert!(url.ends_with("/scratch_db"), "{url}");
    assert_eq!(cluster.psql("scratch_db", "select 1"), "1");
    assert_eq!(cluster.psql("scratch_db", "create table t(x int); insert into t values (7); select x from t"), "7");
    let t = Instant::now();
    cluster.stop();
    eprintln!("stop took {:?}", t.elapsed());
    let t = Instant::now();
    cluster.restart();
    eprintln!("restart took {:?}", t.elapsed());
    assert_eq!(cluster.psql("scratch_db", "select x from t"), "7");
    cluster.kill_connections();
    // Password auth over TCP works.
    let out = std::process::Command::new("/usr/lib/postgresql/15/bin/psql")
        .args(["-X", "-A", "-t", "-c", "select current_user", &format!("host=127.0.0.1 port={} user=codearts dbname=postgres sslmode=disable", cluster.port())])
        .env("PGPASSWORD", cluster.password())
        .output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "codearts");
    // Wrong password is refused (scram over host).
    let out = std::process::Command::new("/usr/lib/postgresql/15/bin/psql")
        .args(["-X", "-c", "select 1", &format!("host=127.0.0.1 port={} user=codearts dbname=postgres sslmode=disable", cluster.port())])
        .env("PGPASSWORD", "wrong")
        .output().unwrap();
    assert!(!out.status.success());
    eprintln!("wrong password: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn tls_cluster() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let t = Instant::now();
    let cluster = Cluster::start_tls(&certified.cert.pem(), &certified.signing_key.serialize_pem());
    eprintln!("tls start took {:?}", t.elapsed());
    let out = std::process::Command::new("/usr/lib/postgresql/15/bin/psql")
        .args(["-X", "-A", "-t", "-c", "select ssl from pg_stat_ssl where pid = pg_backend_pid()", &format!("host=127.0.0.1 port={} user=codearts dbname=postgres sslmode=require", cluster.port())])
        .env("PGPASSWORD", cluster.password())
        .output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "t");
}

#[test]
fn parallel_clusters() {
    let handles: Vec<_> = (0..4).map(|_| std::thread::spawn(|| {
        let c = Cluster::start();
        c.psql("postgres", "select 1")
    })).collect();
    for h in handles { assert_eq!(h.join().unwrap(), "1"); }
}

#[test]
fn kill_connections_cuts_a_session() {
    let cluster = Cluster::start();
    let mut child = std::process::Command::new("/usr/lib/postgresql/15/bin/psql")
        .args(["-X", "-c", "select pg_sleep(30)", &cluster.url("postgres")])
        .stderr(std::process::Stdio::piped())
        .spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(1));
    cluster.kill_connections();
    let t = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(t.elapsed().as_secs() < 5);
    eprintln!("killed: {}", String::from_utf8_lossy(&out.stderr));
    // A script with several statements, CREATE DATABASE included.
    assert_eq!(cluster.psql("postgres", "create database a; create database b; select count(*) from pg_database where datname in ('a','b')"), "2");
    let err = std::panic::catch_unwind(|| cluster.psql("postgres", "select nope")).unwrap_err();
    eprintln!("psql panic: {}", err.downcast_ref::<String>().unwrap());
}
